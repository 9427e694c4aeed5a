"""The gateway's tests. A package, so pytest names its modules `tests.*`: as plain files under
`gateway/` they would be named `gateway.tests.*`, and that `gateway` would shadow the real package."""
