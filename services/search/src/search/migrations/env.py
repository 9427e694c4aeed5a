from microblog_common.migrations import run_env
from search.models import Base

run_env(Base.metadata)
