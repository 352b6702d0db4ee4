"""Fixtures every test directory shares: the CPU kind `mixed_precision=auto` decides for,
and tiny datasets generated once per run. Helpers are plain modules (`import helpers`;
pyproject.toml puts tests/ on the path)."""
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # One thread per TensorFlow pool in each test worker and in the CLIs it starts: the
    # workers already share the cores, and more threads than cores only contend.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import pytest  # noqa: E402

import helpers  # noqa: E402

CPU_FLAGS = {"avx2": "fpu sse4_2 avx avx2 fma", "avx512_bf16": "avx2 avx512f avx512_bf16"}


def _fake_cpu(monkeypatch, directory, kind):
    from t2tlike import precision
    cpuinfo = directory / f"cpuinfo_{kind}"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {CPU_FLAGS[kind]}\n")
    monkeypatch.setattr(precision, "CPUINFO", str(cpuinfo))
    monkeypatch.setenv("T2TLIKE_CPUINFO", str(cpuinfo))     # for CLIs run as subprocesses


def pytest_addoption(parser):
    parser.addoption("--cpu-kind", choices=sorted(CPU_FLAGS), default="avx2",
                     help="the CPU `mixed_precision=auto` decides for in-process tests "
                          "(default avx2: float32; avx512_bf16: bfloat16)")


@pytest.fixture(scope="session", autouse=True)
def _cpu_kind_of_the_run(tmp_path_factory, request):
    """In every test (and module fixture) `mixed_precision=auto` decides as on the CPU
    kind --cpu-kind names (default: one without bfloat16 units, so float32), whatever this
    machine's CPU, so results do not depend on the machine. Tests of both decisions take
    the `cpu_kind` fixture. CLIs run as subprocesses inherit the choice (T2TLIKE_CPUINFO)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _fake_cpu(monkeypatch, tmp_path_factory.getbasetemp(),
                  request.config.getoption("--cpu-kind"))
        yield


@pytest.fixture(params=sorted(CPU_FLAGS))
def cpu_kind(request, monkeypatch, tmp_path_factory):
    """Runs the test twice: `auto` picks float32 (an AVX2 CPU) and bfloat16 (a CPU with
    AVX-512 BF16), without the hardware. The value is the precision `auto` resolves to."""
    _fake_cpu(monkeypatch, tmp_path_factory.getbasetemp(), request.param)
    return "bfloat16" if request.param == "avx512_bf16" else "none"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """(helpers.TinyCopy(), data_dir), generated once per test run."""
    data_dir = str(tmp_path_factory.mktemp("tiny_copy"))
    problem = helpers.TinyCopy()
    problem.generate_data(data_dir, None)
    return problem, data_dir


@pytest.fixture(scope="session")
def tiny_multi(tmp_path_factory):
    """(helpers.TinyMulti(), data_dir): the toy multi-task world, generated once per test
    run. Tests that change a problem's state (its mixture) make their own TinyMulti()."""
    data_dir = str(tmp_path_factory.mktemp("tiny_multi"))
    problem = helpers.TinyMulti()
    problem.generate_data(data_dir, os.path.join(data_dir, "tmp"))
    return problem, data_dir
