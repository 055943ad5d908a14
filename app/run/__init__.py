"""2. Running jobs: the queues that keep them durable and the workers that run them.

The embedded mode (`queue`: one SQLite file, `worker`: its threads) or the Redis mode
(`distributed`, with its Lua scripts in `lua/`); both hand each claimed job to one
`runtime`, which runs an attempt through `execute` (retries, take-overs, the lease fence
around every GitHub write).
"""
