"""Frozen reference: these data tables did not change, so the live module stands in for them."""

import sys

from vigil.ecs.windows import security_tables as _live

sys.modules[__name__] = _live
