"""Open Character Studio: the library behind the studio and the `character` command.

Every action is a function here with a typed config; the CLI and the studio only build configs
and call them.
"""

import os as _os

# OpenMP threads that spin while waiting turn two torch processes on the same cores (a studio
# sampling next to a training job, a test next to a worker) into a livelock: measured on two
# cores, two samplers side by side ran at 7.7 tok/s each with spinning waits and 45 tok/s each
# with passive ones, and one alone was no slower passive (bench/sampling.py --contention).
# It must be set before OpenMP starts, i.e. before torch is imported; a user's setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
