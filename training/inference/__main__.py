"""``python -m training.inference``: run the local inference server (the Procfile's ``inference``).

Flags override the environment (INFERENCE_HOST, INFERENCE_PORT, MODEL_STORAGE_DIR, BASE_MODEL or
DATA_DIR/base_model, INFERENCE_API_KEY, INFERENCE_MAX_TOKENS, INFERENCE_TIMEOUT, ...), which
overrides the defaults in ``ServerConfig``. One process, one event loop: the model is in
memory once and the engine thread batches every request it serves.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from training.inference import ServerConfig, create_app


def main(argv: list[str] | None = None) -> None:
    env = ServerConfig.from_env()
    parser = argparse.ArgumentParser(prog="python -m training.inference", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=env.host)
    parser.add_argument("--port", type=int, default=env.port)
    parser.add_argument("--storage-dir", type=Path, default=env.storage_dir, help="model versions (MODEL_STORAGE_DIR)")
    parser.add_argument("--base-model", type=Path, default=env.base_model, help="base model directory (BASE_MODEL)")
    parser.add_argument("--max-tokens", type=int, default=env.max_tokens, help="cap on a reply's tokens")
    parser.add_argument("--timeout", type=float, default=env.timeout, help="seconds before a reply is cut")
    parser.add_argument("--max-batch", type=int, default=env.max_batch, help="chats decoded together")
    parser.add_argument("--max-waiting", type=int, default=env.max_waiting, help="queued requests before 503")
    parser.add_argument("--dtype", default=env.dtype, choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=env.threads, help="torch CPU threads (0: default)")
    parser.add_argument("--api-key", default=env.api_key, help="require 'Authorization: Bearer KEY'")
    args = parser.parse_args(argv)
    config = replace(env, **{k: v for k, v in vars(args).items()})

    import uvicorn

    app = create_app(config)
    print(f"Inference server: base {config.base_model} ({app.state.server.dtype}), versions from "
          f"{config.storage_dir}, http://{config.host}:{config.port}/v1", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
