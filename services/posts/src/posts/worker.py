"""`python -m posts.worker`: the posts service's event lane as a process of its own (outbox relay,
inbox consumer, lane tasks; no public API). See `microblog_common.worker`."""

from microblog_common.worker import run_worker
from posts.app import SPEC
from posts.settings import Settings

if __name__ == "__main__":
    run_worker(SPEC, Settings())
