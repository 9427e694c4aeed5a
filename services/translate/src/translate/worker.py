"""`python -m translate.worker`: the translate service's event lane as a process of its own (outbox relay,
inbox consumer, lane tasks; no public API). See `microblog_common.worker`."""

from microblog_common.worker import run_worker
from translate.app import SPEC
from translate.settings import Settings

if __name__ == "__main__":
    run_worker(SPEC, Settings())
