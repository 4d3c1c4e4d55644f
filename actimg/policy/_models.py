"""The model interface used by the policy (actimg.models: Task, Generated, run_model)."""
try:
    from ..models import Generated, Task, run_model  # noqa: F401
except ImportError:  # TEMPORARY until agent/models is merged
    from ._standin_models import Generated, Task, run_model  # noqa: F401
