"""The Lambda layer's stand-in for grpcio (layers/stubs/grpc): qdrant-client imports and talks
REST with it, and asking it for gRPC fails with a message that says why.

Each check runs in a fresh interpreter with the stand-in ahead of the development venv's real
grpcio on the path, as the layer has it in place of grpcio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / "layers" / "stubs"


def _run(code: str) -> dict[str, object]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(STUBS), str(ROOT / "layers" / "python")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_every_qdrant_client_module_imports_with_the_stand_in() -> None:
    # WHEN every module of qdrant-client is imported with the stand-in as grpc
    out = _run(
        "import importlib, json, pkgutil, sys\n"
        "import grpc, qdrant_client\n"
        "failed = {}\n"
        "for m in pkgutil.walk_packages(qdrant_client.__path__, 'qdrant_client.'):\n"
        "    try:\n"
        "        importlib.import_module(m.name)\n"
        "    except Exception as e:\n"
        "        failed[m.name] = repr(e)\n"
        "print(json.dumps({'grpc': grpc.__file__, 'failed': failed,\n"
        "    'native': sorted(n for n in sys.modules if n.startswith('grpc._'))}))\n"
    )
    # THEN it was the stand-in, none failed, and nothing of grpcio's native core was loaded
    assert Path(str(out["grpc"])).is_relative_to(STUBS)
    assert out["failed"] == {}
    assert out["native"] == []


def test_the_store_client_speaks_rest_and_runs_locally_with_the_stand_in() -> None:
    # GIVEN a minimal Qdrant REST endpoint answering GET /collections
    out = _run(
        "import json, threading\n"
        "from http.server import BaseHTTPRequestHandler, HTTPServer\n"
        "seen = []\n"
        "class H(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        seen.append(self.path)\n"
        "        body = json.dumps({'result': {'collections': [{'name': 'products'}]},\n"
        "                           'status': 'ok', 'time': 0.0}).encode()\n"
        "        self.send_response(200)\n"
        "        self.send_header('Content-Type', 'application/json')\n"
        "        self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(body)\n"
        "    def log_message(self, *a): pass\n"
        "srv = HTTPServer(('127.0.0.1', 0), H)\n"
        "threading.Thread(target=srv.serve_forever, daemon=True).start()\n"
        # WHEN the store's client module talks REST to it, as recsys.store.qdrant builds it
        "from recsys.store.qdrant import _client_for\n"
        "client, local = _client_for(f'http://127.0.0.1:{srv.server_port}', api_key=None,\n"
        "                            timeout=5)\n"
        "names = [c.name for c in client.get_collections().collections]\n"
        # AND the in-process (:memory:) engine stores and finds a vector
        "from recsys.store._qdrant_client import QdrantClient, models\n"
        "mem = QdrantClient(location=':memory:')\n"
        "mem.create_collection('t', vectors_config=models.VectorParams(\n"
        "    size=3, distance=models.Distance.COSINE))\n"
        "mem.upsert('t', [models.PointStruct(id=7, vector=[0.0, 1.0, 0.0])])\n"
        "hit = mem.query_points('t', query=[0.0, 1.0, 0.1], limit=1).points[0].id\n"
        "print(json.dumps({'local': local, 'names': names, 'seen': seen, 'hit': hit}))\n"
    )
    # THEN the REST call went through and the local engine answered
    assert out == {"local": False, "names": ["products"], "seen": ["/collections"], "hit": 7}


def test_asking_for_grpc_fails_and_says_the_layer_has_none() -> None:
    # WHEN a client is made with prefer_grpc and used, and the stand-in is asked for gRPC
    out = _run(
        "import json, grpc\n"
        "from qdrant_client import QdrantClient\n"
        "errors = {}\n"
        "try:\n"
        "    QdrantClient(url='http://127.0.0.1:9', prefer_grpc=True).get_collections()\n"
        "except Exception as e:\n"
        "    errors['prefer_grpc'] = str(e)\n"
        "for name, call in [('aio', lambda: grpc.aio.insecure_channel('x:1')),\n"
        "                   ('experimental', lambda: grpc.experimental.unary_unary()),\n"
        "                   ('attribute', lambda: grpc.server)]:\n"
        "    try:\n"
        "        call()\n"
        "    except (grpc.GrpcNotShipped, AttributeError) as e:\n"
        "        errors[name] = type(e).__name__ + ': ' + str(e)\n"
        "print(json.dumps(errors))\n"
    )
    # THEN every one of them refuses, naming the missing gRPC and the REST way
    assert set(out) == {"prefer_grpc", "aio", "experimental", "attribute"}
    assert all("not in the Lambda layer" in str(why) for why in out.values())
    assert str(out["aio"]).startswith("GrpcNotShipped: grpc.aio.insecure_channel")
    assert str(out["attribute"]).startswith("AttributeError: grpc.server")
