"""The architectural components of a model (the SAT paper's 13 columns), derived, not looked up.

    derive.py          derive_components(name): one table row per timm model, and the rules in words
    rules.py           the rules applied to one traced forward pass (TraceFacts)
    trace.py           trace_model(name): one forward pass on the meta device, every call recorded
    trace_patterns.py  function-name sets and label patterns the rules read off a call
    nas_overrides.py   the one curated fact: which families came from a neural architecture search
    table.py           the components table of many models: derive, write and read the CSV

May import: `archsim.zoo` and `archsim.config` (models and their specs) and
archsim's foundation. Nothing else in `analysis`.
"""
