"""lm-evaluation-harness task folders shipped with the harness (YAML tasks over local data).

`harness lm-eval` and `harness run --tasks ...,lm-eval:TASK` add `TASKS_DIR` to lm-eval's include path.
"""

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
