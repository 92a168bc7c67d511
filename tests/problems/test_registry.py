"""Registry and contract tests: names, parameters, bad input, shared oracle behaviour, custom problems."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

import problems
from problems.errors import UnknownNameError, UserInputError

#: Small instances of the families this module is responsible for.
MINE = {
    "quadratic": {"dim": 6, "kappa": 10.0, "seed": 1},
    "least_squares": {"n": 15, "d": 4, "seed": 1},
    "nnls": {"n": 12, "d": 5, "seed": 1},
    "rosenbrock": {"dim": 3},
    "worst_case": {"dim": 7, "k": 5},
}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIM_TESTBED_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def registry_snapshot(monkeypatch):
    """Let a test register families without leaking them into other tests."""
    monkeypatch.setattr(problems.REGISTRY, "_entries", dict(problems.REGISTRY._entries))


def test_available_and_describe():
    names = problems.available()
    assert names == sorted(names)
    assert set(MINE) <= set(names)
    for name in names:
        info = problems.describe(name)
        assert info["name"] == name and info["summary"]
        for key in ("convex", "L", "mu", "f_star"):
            assert key in info, (name, key)
        assert isinstance(info["parameters"], dict)
    q = problems.describe("quadratic")
    assert q["parameters"] == {
        "dim": 20, "kappa": 100.0, "spectrum": "geometric", "L": 1.0, "rank": None, "basis": "random", "seed": 0
    }
    assert problems.describe("worst_case")["parameters"]["k"] is None


def test_unknown_family_lists_names_and_closest_match():
    with pytest.raises(UnknownNameError) as info:
        problems.make("quadratc")
    err = info.value
    assert err.suggestion == "quadratic"
    assert "did you mean 'quadratic'?" in str(err)
    for name in MINE:
        assert name in str(err) and name in err.available
    assert isinstance(err, KeyError) and isinstance(err, ValueError) and isinstance(err, UserInputError)
    with pytest.raises(UnknownNameError, match="rosenbrock"):
        problems.describe("rosenbrok")
    with pytest.raises(UnknownNameError) as far:
        problems.make("zzzzzz")
    assert far.value.suggestion is None and "did you mean" not in str(far.value)


@pytest.mark.parametrize("name", sorted(MINE))
def test_unknown_keyword_is_rejected_with_the_allowed_ones(name):
    with pytest.raises(UserInputError, match=rf"{name}: unknown parameter 'dimension'; allowed: ") as info:
        problems.make(name, dimension=3)
    allowed = inspect.signature(problems.REGISTRY.get(name).factory).parameters
    assert all(p in str(info.value) for p in allowed)


@pytest.mark.parametrize(
    ("name", "kw", "field"),
    [
        ("quadratic", {"dim": -1}, "dim"),
        ("quadratic", {"kappa": 0.9}, "kappa"),
        ("least_squares", {"d": -5}, "d"),
        ("least_squares", {"n": 0}, "n"),
        ("nnls", {"d": -1}, "d"),
        ("rosenbrock", {"dim": -2}, "dim"),
        ("worst_case", {"dim": -1}, "dim"),
        ("worst_case", {"k": 200}, "k"),
    ],
)
def test_bad_values_name_the_field_and_range(name, kw, field):
    with pytest.raises(UserInputError) as info:
        problems.make(name, **kw)
    msg = str(info.value)
    assert msg.startswith(f"{field}:") and ("must be" in msg)
    assert str(kw[field]) in msg


@pytest.mark.parametrize("name", sorted(MINE))
def test_params_rebuild_the_same_problem(name):
    p = problems.make(name, **MINE[name])
    q = problems.make(name, **p.params)
    assert q.params == p.params and type(q) is type(p) and q.family == name
    assert np.array_equal(p.x0, q.x0)
    x = p.x0 + 0.1
    assert p.value(x) == q.value(x) and np.array_equal(p.grad(x), q.grad(x))
    assert p.summary()["family"] == name and p.summary()["dim"] == p.dim
    assert name in repr(p)
    default = problems.make(name)
    assert problems.make(name, **default.params).params == default.params


@pytest.mark.parametrize("name", sorted(MINE))
def test_bad_x_is_rejected(name):
    p = problems.make(name, **MINE[name])
    d = p.dim
    bad = [
        np.zeros(d, dtype=np.int64),
        np.zeros(d, dtype=np.float32),
        np.zeros((d, 1)),
        np.zeros((1, d)),
        np.zeros(d + 1),
        np.zeros(0),
        [0.0] * d,
        np.float64(0.0),
    ]
    for x in bad:
        for call in (p.value, p.grad, p.value_and_grad, p.hess, lambda z: p.hvp(z, np.ones(d))):
            with pytest.raises(ValueError, match="x:"):
                call(x)
    with pytest.raises(ValueError, match="v:"):
        p.hvp(np.zeros(d), np.ones(d, dtype=np.float32))


@pytest.mark.parametrize("name", sorted(MINE))
def test_shared_contract(name):
    p = problems.make(name, **MINE[name])
    x0 = p.x0
    assert x0.dtype == np.float64 and x0.shape == (p.dim,) and x0.flags.writeable
    x0[:] = 123.0  # a fresh copy: the problem is unchanged
    assert not np.array_equal(p.x0, x0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(p.dim)
    keep = x.copy()
    f, g = p.value_and_grad(x)
    assert isinstance(f, float) and g.dtype == np.float64 and g.shape == (p.dim,)
    assert f == pytest.approx(p.value(x), rel=1e-13, abs=1e-13)
    np.testing.assert_allclose(g, p.grad(x), rtol=1e-13, atol=1e-13)
    g[:] = np.nan  # returned arrays are new: mutating them changes nothing
    assert np.all(np.isfinite(p.grad(x)))
    H = p.hess(x)
    H[:] = 0.0
    assert np.any(p.hess(x) != 0.0)
    assert np.array_equal(x, keep)  # the oracle never writes to its input
    assert p.has_hess and p.has_hvp
    assert p.is_constrained == (name == "nnls")
    assert p.is_finite_sum == (name == "least_squares")
    if p.is_finite_sum:
        assert p.n_samples == MINE[name]["n"]
    else:
        assert p.n_samples is None
        with pytest.raises(UserInputError, match="not a finite sum"):
            p.value(x, np.array([0]))
    assert p.convex == (p.mu is not None)
    assert p.L is not None and p.L > 0 and (p.mu is None or 0 <= p.mu <= p.L)
    assert p.L_region == "global" or name == "rosenbrock"
    assert p.in_region(p.x0)
    assert p.f_star is not None and p.x_star is not None and p.reference != "unknown"
    xs = p.x_star
    xs[:] = 7.0
    assert not np.array_equal(p.x_star, xs)  # x_star is a copy too
    assert p.reference_certificate is not p.reference_certificate


def test_import_is_light():
    code = (
        "import sys, problems\n"
        f"for name in {sorted(MINE)!r}:\n"
        "    problems.make(name)\n"
        "print(sorted(m for m in ('cvxpy', 'sklearn', 'matplotlib', 'torch', 'dask', 'testbed') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------- custom
def test_custom_problem():
    Q = np.diag([1.0, 4.0])
    p = problems.custom(
        value=lambda x: 0.5 * x @ Q @ x,
        grad=lambda x: Q @ x,
        x0=np.array([1.0, 1.0]),
        L=4.0,
        mu=1.0,
        f_star=0.0,
        x_star=np.zeros(2),
        hess=lambda x: Q,
        name="my_quad",
    )
    assert p.name == "my_quad" and p.family == "custom" and p.convex
    assert p.value(np.array([2.0, 0.0])) == 2.0
    np.testing.assert_array_equal(p.grad(np.array([1.0, 1.0])), [1.0, 4.0])
    np.testing.assert_array_equal(p.hvp(np.zeros(2), np.ones(2)), [1.0, 4.0])
    assert p.f_star == 0.0 and p.reference == "user" and p.L == 4.0 and p.mu == 1.0
    with pytest.raises(ValueError, match="x:"):
        p.value(np.zeros(3))
    plain = problems.custom(value=lambda x: float(x @ x), grad=lambda x: 2 * x, x0=np.ones(3))
    assert plain.f_star is None and plain.reference == "unknown" and not plain.has_hess and not plain.convex
    with pytest.raises(UserInputError, match="no Hessian"):
        plain.hess(np.ones(3))
    assert problems.custom(value=lambda x: 0.0, grad=lambda x: 0 * x, x0=np.ones(2), x_star=np.ones(2)).f_star == 0.0


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"value": 3}, "callables"),
        ({"x0": np.ones((2, 2))}, "x0"),
        ({"x0": np.array([])}, "x0"),
        ({"L": -1.0}, "L"),
        ({"L": float("inf")}, "L"),
        ({"mu": 5.0, "L": 1.0}, "mu"),
        ({"mu": -0.1}, "mu"),
        ({"x_star": np.ones(3)}, "x_star"),
        ({"L": "4"}, "L: must be a number, got '4'"),
        ({"mu": "0.5"}, "mu: must be a number"),
        ({"f_star": "0"}, "f_star: must be a number"),
        ({"f_star": float("nan")}, "f_star: must be finite"),
        ({"convex": "yes"}, "convex: must be true or false"),
        ({"name": ""}, "name: must be a non-empty string"),
    ],
)
def test_custom_bad_input(kw, match):
    base = {"value": lambda x: float(x @ x), "grad": lambda x: 2 * x, "x0": np.ones(2)}
    with pytest.raises(UserInputError, match=match):
        problems.custom(**(base | kw))


# ------------------------------------------------------------ user families
def test_register_a_user_family(registry_snapshot):
    @problems.register("my_sphere", convex=True, L="2", mu="2", f_star="0 at 0")
    def my_sphere(dim: int = 3, scale: float = 1.0) -> problems.Problem:
        """Scaled sphere scale * ||x||^2."""
        return problems.custom(
            value=lambda x: scale * float(x @ x), grad=lambda x: 2 * scale * x, x0=np.ones(dim),
            L=2 * scale, mu=2 * scale, f_star=0.0, name="my_sphere",
        )

    assert "my_sphere" in problems.available()
    info = problems.describe("my_sphere")
    assert info["summary"] == "Scaled sphere scale * ||x||^2." and info["parameters"] == {"dim": 3, "scale": 1.0}
    assert info["L"] == "2" and info["convex"] is True
    p = problems.make("my_sphere", dim=5, scale=2.0)
    assert p.dim == 5 and p.L == 4.0 and p.value(np.ones(5)) == 10.0
    with pytest.raises(UserInputError, match="unknown parameter 'radius'; allowed: dim, scale"):
        problems.make("my_sphere", radius=1.0)
    with pytest.raises(UserInputError, match="already registered"):
        problems.register("my_sphere")(my_sphere)
    problems.register("my_sphere", replace=True, summary="replaced")(my_sphere)
    assert problems.describe("my_sphere")["summary"] == "replaced"
    with pytest.raises(UserInputError, match="identifier"):
        problems.register("not a name")
    with pytest.raises(UnknownNameError, match="my_sphere"):
        problems.make("my_spher")


def test_factory_must_return_a_problem(registry_snapshot):
    @problems.register("not_a_problem")
    def not_a_problem(dim: int = 2) -> object:
        return np.zeros(dim)

    with pytest.raises(TypeError, match="not a Problem"):
        problems.make("not_a_problem")


def test_required_parameter_is_reported(registry_snapshot):
    @problems.register("needs_dim")
    def needs_dim(dim: int) -> problems.Problem:
        return problems.custom(value=lambda x: 0.0, grad=lambda x: 0 * x, x0=np.zeros(dim))

    with pytest.raises(UserInputError, match="missing required parameter 'dim'"):
        problems.make("needs_dim")
    assert problems.describe("needs_dim")["parameters"] == {"dim": None}
    assert problems.make("needs_dim", dim=2).dim == 2


def test_user_family_is_gone_after_the_test():
    assert "my_sphere" not in problems.available()


# ------------------------------------------------------------ robustness of the registry
class _FakeEntryPoint:
    """Stands in for an ``importlib.metadata.EntryPoint``: ``load`` returns the hook or raises."""

    def __init__(self, name: str, hook=None, error: Exception | None = None) -> None:
        self.name, self.value, self.group = name, f"fake_pkg.{name}:hook", "optim_testbed.problems"
        self._hook, self._error = hook, error

    def load(self):
        if self._error is not None:
            raise self._error
        return self._hook


def test_a_broken_entry_point_warns_once_and_the_others_still_load(monkeypatch, registry_snapshot):
    from problems import _registry

    def good_hook() -> None:
        @problems.register("from_plugin", summary="a family from a plugin")
        def from_plugin(dim: int = 2) -> problems.Problem:
            return problems.custom(value=lambda x: float(x @ x), grad=lambda x: 2 * x, x0=np.ones(dim))

    def crashing_hook() -> None:
        raise RuntimeError("plugin bug")

    eps = [
        _FakeEntryPoint("broken", error=ModuleNotFoundError("No module named 'fake_pkg'")),
        _FakeEntryPoint("crashing", hook=crashing_hook),
        _FakeEntryPoint("good", hook=good_hook),
    ]
    monkeypatch.setattr(_registry.metadata, "entry_points", lambda group=None: eps if group else [])
    monkeypatch.setattr(problems.REGISTRY, "_entry_points_loaded", False)
    with pytest.warns(RuntimeWarning) as record:
        names = problems.available()
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert "'broken'" in messages[0] and "ModuleNotFoundError: No module named 'fake_pkg'" in messages[0]
    assert "'crashing'" in messages[1] and "RuntimeError: plugin bug" in messages[1]
    assert "from_plugin" in names and "quadratic" in names  # the good plugin and the built-ins are there
    assert problems.make("from_plugin").dim == 2
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # entry points are loaded once: no second warning
        assert problems.available() == names


def test_summary_is_the_factorys_own_docstring(registry_snapshot):
    class Base(problems.Problem):
        """Base docstring that must not leak into a subclass's summary."""

    @problems.register("undocumented_cls")
    class Undocumented(Base):
        def __init__(self, dim: int = 2) -> None:
            super().__init__(params={"dim": dim}, x0=np.ones(dim), L=2.0, mu=2.0, convex=True)

        def _value_and_grad(self, x, idx):
            return float(x @ x), 2 * x

    @problems.register("documented_cls")
    class Documented(Base):
        """My own summary.

        More text.
        """

    @problems.register("undocumented_fn")
    def undocumented_fn(dim: int = 2) -> problems.Problem:
        return Undocumented(dim)

    assert problems.describe("undocumented_cls")["summary"] == "(no description)"
    assert problems.describe("documented_cls")["summary"] == "My own summary."
    assert problems.describe("undocumented_fn")["summary"] == "(no description)"
    assert problems.make("undocumented_cls").dim == 2


def test_unknown_name_message_punctuation():
    err = UnknownNameError("problem family", "zzz", ["abc", "xyz"])
    assert str(err) == "unknown problem family 'zzz'. Available: abc, xyz"
    near = UnknownNameError("problem family", "abd", ["abc", "xyz"])
    assert str(near) == "unknown problem family 'abd'; did you mean 'abc'? Available: abc, xyz"
