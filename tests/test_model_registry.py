"""The service's named models: list, upload (validated, atomic, size-capped, safe names), denoise by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mcdenoise.server import Settings, create_app
from mcdenoise.shipped import shipped_path
from test_server import render_bytes

KEY = {"Authorization": "Bearer k3y"}


@pytest.fixture
def registry_client(tmp_path: Path) -> TestClient:
    """A service with a models directory, an API key and a 3 MB model cap."""
    app = create_app(Settings(models_dir=tmp_path / "models", api_key="k3y", max_model_mb=3, max_loaded_models=1))
    with TestClient(app) as c:
        yield c


def test_upload_list_and_denoise_by_name(registry_client: TestClient, tmp_path: Path) -> None:
    c = registry_client
    data = shipped_path("lean", ".onnx").read_bytes()
    r = c.put("/v1/models/sq010", content=data, headers=KEY)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "sq010" and r.json()["model"] == "n2n_lean"
    assert (tmp_path / "models" / "sq010.onnx").read_bytes() == data
    names = {m["name"]: m for m in c.get("/v1/models", headers=KEY).json()}
    assert {"default", "lean", "color", "sq010"} <= set(names) and not names["sq010"]["loaded"]
    r = c.post("/denoise", content=render_bytes(), params={"model": "sq010"},
               headers={**KEY, "Content-Type": "image/x-exr"})
    assert r.status_code == 200 and r.headers["x-mcdenoise-model"] == "n2n_lean"
    r = c.post("/denoise", content=render_bytes(), headers={**KEY, "Content-Type": "image/x-exr"})
    assert r.headers["x-mcdenoise-model"] == "n2n_default"  # the default stays as it was
    r = c.post("/denoise", content=render_bytes(), params={"model": "color"},
               headers={**KEY, "Content-Type": "image/x-exr"})
    assert r.headers["x-mcdenoise-model"] == "n2n_color"  # shipped by name; sq010 unloaded (max 1 loaded)
    assert not {m["name"]: m for m in c.get("/v1/models", headers=KEY).json()}["sq010"]["loaded"]
    r = c.post("/denoise", content=render_bytes(), params={"model": "nosuch"},
               headers={**KEY, "Content-Type": "image/x-exr"})
    assert r.status_code == 404 and r.json()["error"] == "UnknownModel"


@pytest.mark.parametrize(("name", "body", "status", "error"), [
    ("sq010", b"not onnx at all", 422, "BadModel"),
    ("sq010", b"", 422, "BadModel"),
    ("..", b"x", 404, None),  # a path segment: never reaches the handler
    ("..evil", b"x", 422, "BadModelName"),
    (".hidden", b"x", 422, "BadModelName"),
    ("a b", b"x", 422, "BadModelName"),
    ("sq010.onnx", b"x", 422, "BadModelName"),
    ("default", b"x", 422, "BadModelName"),
    ("big", b"\0" * (3 * 2**20 + 1), 413, "ModelTooLarge"),
])
def test_bad_uploads_change_nothing(registry_client: TestClient, tmp_path: Path, name: str, body: bytes, status: int,
                                    error: str | None) -> None:
    r = registry_client.put(f"/v1/models/{name}", content=body, headers=KEY)
    assert r.status_code == status, r.text
    if error:
        assert r.json()["error"] == error
    assert not list((tmp_path / "models").glob("*")) if (tmp_path / "models").exists() else True


def test_onnx_without_mcdenoise_metadata_is_refused(registry_client: TestClient, tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()
    onnx.checker.check_model(onnx.load_from_string(data))
    r = registry_client.put("/v1/models/plain", content=data, headers=KEY)
    assert r.status_code == 422 and "model.config" in r.json()["detail"]
    assert not (tmp_path / "models" / "plain.onnx").exists()


def test_registry_needs_the_key_and_a_models_dir() -> None:
    with TestClient(create_app(Settings(api_key="k3y"))) as c:
        assert c.get("/v1/models").status_code == 401
        assert c.put("/v1/models/x", content=b"x").status_code == 401
        r = c.put("/v1/models/x", content=shipped_path("lean", ".onnx").read_bytes(), headers=KEY)
        assert r.status_code == 409 and "MCDENOISE_MODELS_DIR" in r.json()["detail"]


def test_unknown_model_is_refused_before_the_body_is_read(registry_client: TestClient) -> None:
    # The body is not an EXR: a 404 (not a 400) shows the name was checked before any decoding.
    r = registry_client.post("/denoise", content=b"not read", params={"model": "nosuch"},
                             headers={**KEY, "Content-Type": "image/x-exr"})
    assert r.status_code == 404 and r.json()["error"] == "UnknownModel"
    r = registry_client.post("/denoise", content=b"not read", params={"model": "../x"},
                             headers={**KEY, "Content-Type": "image/x-exr"})
    assert r.status_code == 422 and r.json()["error"] == "BadModelName"
