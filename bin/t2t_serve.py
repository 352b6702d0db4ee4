r"""t2t-serve: exports of t2t-exporter over HTTP, with TensorFlow Serving's REST API.

  t2t-serve --model_name=ende --model_base_path=$O/export [--port=8501]
  t2t-serve --model_config_file=models.config            # several models
  curl -d '{"instances": ["ein Mann fährt Rad ."]}' \
       localhost:8501/v1/models/ende:predict             # {"predictions": [{"outputs": ...}]}

The newest numbered version under each base path is served and the folder is watched for
newer ones (--file_system_poll_wait_seconds). Concurrent requests are batched into one
model call (--max_batch_size, --batch_timeout_micros). SIGTERM or Ctrl-C stops accepting,
finishes the requests in flight, and exits 0. Flag names are TensorFlow Serving's; see
docs/serving.md.
"""
import os

from absl import flags

from t2tlike_cli import cli

FLAGS = flags.FLAGS

flags.DEFINE_string("model_name", "default", "Name of the model in the URLs "
                    "(/v1/models/NAME).")
flags.DEFINE_string("model_base_path", None, "Folder of the numbered exports of the model "
                    "(t2t-exporter's <output_dir>/export).")
flags.DEFINE_string("model_config_file", None, "TensorFlow Serving's model config (text "
                    "format: model_config_list { config { name: ... base_path: ... } }), "
                    "instead of --model_name/--model_base_path.")
flags.DEFINE_integer("port", 8501, "Port of the REST API (0: a free one, printed).")
flags.DEFINE_integer("rest_api_port", None, "Same as --port (TensorFlow Serving's name).")
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on; 0.0.0.0 answers other "
                    "machines too (TensorFlow Serving's behaviour).")
flags.DEFINE_bool("enable_batching", True, "Batch concurrent requests into one model call.")
flags.DEFINE_string("batching_parameters_file", None, "TensorFlow Serving's batching "
                    "parameters (text format), instead of the three flags below.")
flags.DEFINE_integer("max_batch_size", 64, "Most instances in one model call.")
flags.DEFINE_integer("batch_timeout_micros", 10000, "Longest wait for a batch to fill, "
                     "from its first request.")
flags.DEFINE_integer("num_batch_threads", 1, "Batches that run at once, sharing "
                     "TensorFlow's threads (0: one per CPU core, at most 8, TensorFlow "
                     "Serving's default).", lower_bound=0)
flags.DEFINE_integer("max_input_length", -1, "Longest input in ids; longer ones get a 400 "
                     "answer (-1: the export's max_input_length, 0: no limit).")
flags.DEFINE_integer("rest_api_timeout_in_ms", 0, "Longest wait of a predict request, in "
                     "ms; later it gets a 504 answer (0: no limit; TensorFlow Serving's "
                     "default is 30000).", lower_bound=0)
flags.DEFINE_float("file_system_poll_wait_seconds", 1.0, "How often base paths are checked "
                   "for a new version.")
flags.DEFINE_float("stats_every_secs", 60.0, "How often the traffic line is logged.")


def main(argv):
    from t2tlike.errors import UserError
    try:
        from t2tlike.server import config, serve
    except ImportError as error:
        raise UserError(f"t2t-serve needs aiohttp ({error}); install it with "
                        "pip install 't2tlike[serve]'.") from None
    if FLAGS.model_config_file:
        if FLAGS.model_base_path:
            raise UserError("give --model_config_file or --model_base_path, not both.")
        models = config.models_from_config(_read(FLAGS.model_config_file),
                                           FLAGS.model_config_file)
    elif FLAGS.model_base_path:
        models = {FLAGS.model_name: FLAGS.model_base_path}
    else:
        raise UserError("missing required flag: --model_base_path (the folder of the "
                        "numbered exports) or --model_config_file.")
    batching = dict(max_batch_size=FLAGS.max_batch_size,
                    batch_timeout_micros=FLAGS.batch_timeout_micros,
                    num_batch_threads=FLAGS.num_batch_threads)
    if FLAGS.batching_parameters_file:
        batching.update(config.batching_from_config(_read(FLAGS.batching_parameters_file),
                                                    FLAGS.batching_parameters_file))
    if not FLAGS.enable_batching:
        batching.update(max_batch_size=1, batch_timeout_micros=0)
    if batching["max_batch_size"] < 1:
        raise UserError(f"max_batch_size is {batching['max_batch_size']}; give 1 or more.")
    port = FLAGS.port if FLAGS.rest_api_port is None else FLAGS.rest_api_port
    if not 0 <= port <= 65535:
        raise UserError(f"--port={port} is not a port number (0-65535).")
    server = serve.Server(models, host=FLAGS.host, port=port,
                          max_input_length=FLAGS.max_input_length,
                          poll_seconds=max(FLAGS.file_system_poll_wait_seconds, 0.05),
                          report_seconds=max(FLAGS.stats_every_secs, 1.0),
                          request_timeout_seconds=FLAGS.rest_api_timeout_in_ms / 1000,
                          **batching)
    try:
        server.run()
    except OSError as error:   # the port is taken, or the address is not this machine's
        raise UserError(f"cannot listen on {FLAGS.host}:{port}: {error.strerror or error}; "
                        "choose another --port (or --host).") from None


def _read(path):
    from t2tlike.errors import UserError
    if not os.path.isfile(path):
        raise UserError(f"{path} is not a file.")
    with open(path, encoding="utf-8") as f:
        return f.read()


def console_main():
    cli.run(main)


if __name__ == "__main__":
    console_main()
