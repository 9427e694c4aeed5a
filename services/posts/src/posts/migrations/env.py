from microblog_common.migrations import run_env
from posts.models import Base

run_env(Base.metadata)
