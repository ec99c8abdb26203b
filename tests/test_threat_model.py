"""The attack that really runs (attacks.threat_model): its noise control's norm and size, measured against the
attack's own perturbation; the norm tables against torchattacks' docstrings; the config's Linf eps warning."""

import pytest
import torch
import torch.nn as nn
import torchattacks

from attacks import make_attack, noise_config


def _norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """Per image: the largest |pixel change| (Linf) or the Euclidean length (L2) of a perturbation."""
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "Linf" else flat.norm(dim=1)


# Each config with the norm and eps of the attack that really runs: the native defaults (PGD Linf 4/255),
# torchattacks class defaults (PGD: 8/255; PGDL2: eps 1.0), with and without an explicit eps.
NOISE_CASES = [({}, "Linf", 4 / 255), ({"norm": "L2", "eps": 0.3}, "L2", 0.3), ({"norm": "L2"}, "L2", 4 / 255),
               ({"eps": 0.05}, "Linf", 0.05),
               ({"backend": "torchattacks", "name": "PGD"}, "Linf", 8 / 255),
               ({"backend": "torchattacks", "name": "PGD", "eps": 0.05}, "Linf", 0.05),
               ({"backend": "torchattacks", "name": "PGDL2"}, "L2", 1.0),
               ({"backend": "torchattacks", "name": "PGDL2", "eps": 0.5}, "L2", 0.5),
               ({"backend": "torchattacks", "name": "APGD", "norm": "L2", "eps": 0.5, "steps": 3}, "L2", 0.5)]


@pytest.mark.parametrize("config,norm,eps", NOISE_CASES)
def test_the_noise_control_has_the_norm_and_size_of_the_attack_that_runs(config, norm, eps):
    """Measured, not read back: the control's perturbation norm equals the largest perturbation the attack itself
    makes on the same images (mid-grey, so no pixel is clipped), in the attack's own norm."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5))
    torch.manual_seed(0)
    nn.init.normal_(model[1].weight, std=0.5)
    x = torch.full((6, 3, 8, 8), 0.5) + 0.01 * torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    y = model(x).argmax(1)
    native = {"alpha": eps / 2, "steps": 10} if config.get("backend", "native") == "native" else {}
    attack_delta = make_attack(model, {**native, **config})(x, y) - x
    noise_delta = make_attack(model, noise_config(config))(x, y) - x
    attack_size = _norm(attack_delta, norm).max().item()
    assert attack_size == pytest.approx(eps, rel=1e-3)  # the attack reaches the edge of its own ball
    torch.testing.assert_close(_norm(noise_delta, norm), torch.full((6,), attack_size), rtol=1e-3, atol=1e-6)
    if norm == "L2":  # the L2 control is not a sign per pixel: it stays far inside the Linf ball of radius eps
        assert noise_delta.abs().max() < eps / 3


@pytest.mark.parametrize("config,reason", [({"backend": "torchattacks", "name": "CW"}, "CW has no eps"),
                                           ({"backend": "torchattacks", "name": "JSMA"}, "JSMA has no Linf or L2"),
                                           ({"backend": "torchattacks", "name": "FAB", "norm": "L1"}, "FAB has no")])
def test_an_attack_without_a_readable_threat_model_gets_one_warning_naming_it_and_no_control(config, reason):
    with pytest.warns(UserWarning, match=f"no noise control: torchattacks attack {reason}"):
        assert noise_config(config) is None


def test_the_norm_tables_agree_with_the_torchattacks_docstrings():
    """LINF_ATTACKS and L2_ATTACKS against the "Distance Measure : ..." line of each class's own docstring."""
    import re

    from attacks.threat_model import L2_ATTACKS, LINF_ATTACKS

    stated = {n: re.findall(r"Distance Measure\s*:\s*([^\n]*)", getattr(torchattacks, n).__doc__ or "")
              for n in torchattacks.__all__ if n not in torchattacks.__wrapper__}
    assert LINF_ATTACKS == {n for n, m in stated.items() if m == ["Linf"]}
    assert L2_ATTACKS == {n for n, m in stated.items() if m == ["L2"]}


@pytest.mark.parametrize("attack,warned", [({"backend": "torchattacks", "name": "PGDL2", "eps": 2.0}, False),
                                           ({"backend": "torchattacks", "name": "PGD", "eps": 2.0}, True),
                                           ({"norm": "L2", "eps": 2.0}, False), ({"eps": 2.0}, True)])
def test_the_config_warns_about_a_large_eps_only_for_an_attack_that_runs_under_linf(attack, warned):
    import warnings

    from archsim.config import parse_config

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parse_config({"data": {"source": "digits"}, "models": [{"name": "resnet18"}], "attack": attack})
    assert any("above 0.5 for a Linf attack" in str(w.message) for w in caught) == warned
