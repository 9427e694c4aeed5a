"""Tables the translate service owns."""

from sqlalchemy.orm import DeclarativeBase

from microblog_common.events import MessagingTables


class Base(DeclarativeBase):
    pass


messaging = MessagingTables(Base.metadata)
