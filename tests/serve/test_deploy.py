"""deploy/ cannot run here (no cluster, no Docker), so this checks what can be: every YAML parses,
names the ports and paths `effvit serve` really uses, and the container arguments they pass start
the real server on a Triton-style model repository (as /mnt/models would hold it)."""
import os
import re
import shutil
import signal
import subprocess

import requests
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("EFFVIT_CLI", os.path.join(ROOT, "build", "effvit"))
WORK = os.environ.get("EFFVIT_WORKDIR", "/tmp/effvit_serve_tests")
M0 = os.path.join(ROOT, "models", "efficientvit_m0_fashion_mnist.onnx")


def docs(path):
    with open(os.path.join(ROOT, "deploy", path)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def containers():
    runtime = docs("kserve/serving-runtime.yaml")[0]
    deployment = [d for d in docs("kubernetes/effvit.yaml") if d["kind"] == "Deployment"][0]
    return runtime["spec"]["containers"][0], deployment["spec"]["template"]["spec"]["containers"][0]


def repository():
    repo = os.path.join(WORK, "repo")
    shutil.rmtree(repo, ignore_errors=True)
    for version in ("1", "3"):
        os.makedirs(os.path.join(repo, "m0", version))
        shutil.copy(M0, os.path.join(repo, "m0", version, "model.onnx"))
    os.makedirs(os.path.join(repo, "m0", "notes"))
    open(os.path.join(repo, "m0", "config.pbtxt"), "w").write('name: "m0"\n')
    return repo


def test_kserve_and_kubernetes_yaml_name_the_real_ports_and_paths():
    runtime, deployment = containers()
    assert runtime["name"] == "kserve-container"
    assert docs("kserve/serving-runtime.yaml")[0]["spec"]["protocolVersions"] == ["v2"]
    service = docs("kserve/inference-service.yaml")[0]
    assert service["spec"]["predictor"]["model"]["protocolVersion"] == "v2"
    assert service["spec"]["predictor"]["model"]["runtime"] == docs("kserve/serving-runtime.yaml")[0]["metadata"]["name"]
    assert service["metadata"]["annotations"]["prometheus.io/port"] == "8002"
    for c in (runtime, deployment):
        assert "--http-port=8080" in c["args"] and "--metrics-port=8002" in c["args"] and "--model-repository=/mnt/models" in c["args"]
        assert "--grpc-port=8001" in c["args"]
        assert c["ports"][0]["containerPort"] == 8080
        assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    kinds = {d["kind"] for d in docs("kubernetes/effvit.yaml")}
    assert kinds == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    dockerfile = open(os.path.join(ROOT, "deploy", "Dockerfile")).read()
    assert "FROM debian:12" in dockerfile and "make build" in dockerfile and "EXPOSE 8080 8001 8002" in dockerfile
    assert "--grpc-port=8001" in dockerfile
    # The gRPC runtime: the same container on its gRPC port, named h2c for KServe's serverless mode.
    grpc_runtime = docs("kserve/serving-runtime.yaml")[1]
    assert grpc_runtime["metadata"]["name"] == "effvit-grpc" and grpc_runtime["spec"]["protocolVersions"] == ["grpc-v2"]
    port = grpc_runtime["spec"]["containers"][0]["ports"][0]
    assert port == {"containerPort": 8001, "name": "h2c", "protocol": "TCP"}
    assert "--grpc-port=8001" in grpc_runtime["spec"]["containers"][0]["args"]
    service = [d for d in docs("kubernetes/effvit.yaml") if d["kind"] == "Service"][0]
    assert {"name": "grpc", "port": 8001, "targetPort": 8001, "appProtocol": "kubernetes.io/h2c"} in service["spec"]["ports"]


def test_the_container_arguments_start_the_server_on_a_repository():
    runtime, deployment = containers()
    repo = repository()
    for c in (runtime, deployment):
        args = [a.replace("/mnt/models", repo).replace("=8080", "=0").replace("=8001", "=0").replace("=8002", "=0") for a in c["args"]]
        proc = subprocess.Popen([CLI] + args + ["--host", "127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            lines = []
            while True:
                line = proc.stdout.readline()
                lines.append(line)
                m = re.search(r"HTTP on [^:]+:(\d+), metrics on [^:]+:(\d+)", line)
                if m or not line:
                    break
            assert m, "".join(lines)
            url = "http://127.0.0.1:%s" % m.group(1)
            # The highest numeric version of each model folder is served.
            assert "model 'm0' version 3" in "".join(lines)
            assert requests.get(url + c["readinessProbe"]["httpGet"]["path"]).status_code == 200
            assert requests.get(url + c["livenessProbe"]["httpGet"]["path"]).status_code == 200
            assert requests.get(url + "/v2/models/m0/versions/3").json()["versions"] == ["3"]
            assert requests.get(url + "/v2/models/m0/versions/1").status_code == 404
            assert "nv_inference_count" in requests.get("http://127.0.0.1:%s/metrics" % m.group(2)).text
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
