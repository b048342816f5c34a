import asyncio
import logging

from dbfsm import AsyncioRuntime, Engine, LiveDriver, Transitioned, forward, from_document

# The local PostgreSQL (dbfsm creates its small schema in an empty database).
DATABASE = {
    "type": "postgresql",
    "host": "127.0.0.1",
    "port": 5432,
    "name": "test",
    "user": "postgres",
    "password": "secret",
    "on-fail": "serve-retry-continue",
    "max-reconnect-tries": 3,
    "reconnect-wait-time": 100,
}


def config(**changes: object) -> dict[str, object]:
    return {"Dhcp4": {"lease-database": {**DATABASE, **changes}}}


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    engine = Engine(from_document(config()), clock=asyncio.get_running_loop().time)
    forward(engine)  # Kea's messages (IDs, severities, texts) to the logging module
    engine.subscribe(lambda a: print(" ", a) if isinstance(a, Transitioned) else None)
    driver = LiveDriver()  # real connections; drivers.simulated.SimulatedDriver for tests
    runtime = AsyncioRuntime(engine, driver)
    runtime.start()
    while engine.state == "starting":  # connecting happens on the event loop
        await asyncio.sleep(0.01)
    print("serving:", engine.serving)

    await runtime.use("lease-database")  # one client request: a lease written and read back
    print("lease acknowledged:", driver.acknowledged[-1])

    # A reconfiguration whose database cannot be reached: Kea's answer, and no service.
    unreachable = {"command": "config-set", "arguments": config(port=1)}
    print(await runtime.command(unreachable))
    print("serving:", engine.serving, engine.backend_states())

    status = await runtime.command({"command": "status-get"})  # commands are still answered
    print("status-get result:", status["result"])
    print(await runtime.command({"command": "config-set", "arguments": config()}))
    print("serving:", engine.serving, "open connections:", driver.connections)

    print(await runtime.command({"command": "shutdown", "arguments": {"exit-value": 0}}))
    print("exit code:", await runtime.wait_exit())
    await runtime.aclose()
    print("open connections:", driver.connections)


asyncio.run(main())
