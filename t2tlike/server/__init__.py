"""t2t-serve's server: TensorFlow Serving's REST API over exports (serve.Server), with
dynamic batching (batching), version watching (servables) and TensorFlow Serving's config
files (config). Needs aiohttp: pip install 't2tlike[serve]'."""
