"""t2tlike: one distribution with the `t2tlike` and `data_generators` packages and the CLIs."""
from setuptools import setup

TOOLS = ["t2t-datagen", "t2t-trainer", "t2t-decoder", "t2t-bleu", "t2t-avg-all",
         "t2t-benchmark", "t2t-exporter", "t2t-serve"]

setup(
    name="t2tlike",
    version="0.1.0",
    description="A Tensor2Tensor-style sequence-modeling toolkit on TensorFlow 2",
    python_requires=">=3.10",
    packages=["t2tlike", "t2tlike.layers", "t2tlike.models", "t2tlike.training",
              "t2tlike.decoding", "t2tlike.server", "data_generators", "t2tlike_cli"],
    package_dir={"t2tlike_cli": "bin"},
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.10",
        "tensorboard",
        "absl-py",
        "gin-config>=0.5",
        "numpy",
        "sentencepiece>=0.2",
        "sacrebleu>=2.4",
        "tensorflow-datasets>=4.9.10,<5",   # tfds: problems; 4.9.10 tested with TF 2.21
        "tensorflow-text>=2.21,<2.22",   # SentencePiece inside exported SavedModels
    ],
    # serve: t2t-serve's HTTP server and client (aiohttp; see t2tlike/server/rest.py).
    # ctranslate2: the CTranslate2 export (t2tlike/ctranslate2_export.py).
    # test: pytest-xdist runs the suite in three worker processes (see the README); the
    # server's tests need aiohttp, the CTranslate2 export's ctranslate2.
    extras_require={"serve": ["aiohttp>=3.9"],
                    "ctranslate2": ["ctranslate2>=4.5"],
                    "test": ["pytest>=8", "pytest-xdist>=3.5", "aiohttp>=3.9",
                             "ctranslate2>=4.5"]},
    entry_points={
        "console_scripts": [
            f"{tool}=t2tlike_cli.{tool.replace('-', '_')}:console_main" for tool in TOOLS
        ],
    },
)
