from microblog_common.migrations import run_env
from translate.models import Base

run_env(Base.metadata)
