"""The server defers what Gradio imports but never uses here (web.lean), and everything still works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from web.lean import LazyModule, deferred_imports, release_free_memory

ROOT = Path(__file__).resolve().parent.parent


def test_deferred_module_loads_on_first_use_and_imports_stay_normal_after() -> None:
    name = "colorsys"  # a small stdlib module, not loaded by the test run
    sys.modules.pop(name, None)
    with deferred_imports(((name, "lazy"), ("_no_such_module_", "absent"))):
        import colorsys as stub  # noqa: PLC0415

        assert isinstance(stub, LazyModule)
    assert name not in sys.modules
    assert stub.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)  # first use imports the real module
    import colorsys  # noqa: PLC0415

    assert not isinstance(colorsys, LazyModule) and stub.hls_to_rgb is colorsys.hls_to_rgb
    release_free_memory()  # harmless anywhere (a no-op without glibc)


def test_the_server_does_not_load_pandas_or_ipython_and_gradio_can_still_use_pandas() -> None:
    code = ("import sys\n"
            "import web.server\n"
            "web.server.import_gradio()\n"
            "import gradio.caching\n"
            "print(sorted(m for m in ('pandas', 'IPython') if m in sys.modules))\n"
            "import pandas\n"
            "print(gradio.caching.pd.DataFrame is pandas.DataFrame)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[]", "True"]


def test_a_chat_answer_does_not_load_pandas_in_the_server(web_server) -> None:
    """Gradio's monitoring summary (a pandas DataFrame after every event) is skipped: the dashboard is off here."""
    from gradio_client import Client

    client = Client(web_server["url"], verbose=False)
    params = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/ask"]["parameters"]
    client.predict("Who is Caesar?", *[p.get("parameter_default") for p in params[1:]], api_name="/ask")
    maps = Path(f"/proc/{web_server['proc'].pid}/maps")
    if maps.exists():  # Linux: pandas' compiled modules would be mapped into the server once imported
        assert "/pandas/" not in maps.read_text()
