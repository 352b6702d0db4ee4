"""Models; importing this package registers every built-in model and hparams set."""
from t2tlike.models import common_hparams  # noqa: F401
from t2tlike.models import transformer  # noqa: F401
from t2tlike.models import lstm  # noqa: F401
from t2tlike.models import multimodel  # noqa: F401
