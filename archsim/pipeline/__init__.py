"""SAT for a config, run through the run store: above both the SAT primitives and the store.

    sat_in_store.py  sat_in_store: run what the store in a run folder lacks for a config, read the result back;
                     plan_run: register the config's models, images and attack in the store
    dry_run.py       dry_run: what a run would train, run and reuse, and its estimated cost (`archsim sat --dry-run`)

May import: `archsim.sat` (formula, units, result, cost), `archsim.store`,
`archsim.config`, `archsim.zoo` and `attacks`. Imported by the measures
(`archsim.similarity.sat_measure`), the analysis stages and the CLI; never by
`archsim.sat` or `archsim.store`.
"""
