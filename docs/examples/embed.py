import asyncio
import logging

from dbfsm.runtime import AsyncioRuntime
from drivers.simulated import SimulatedDriver
from fsm.actions import Transitioned
from fsm.config import parse_text
from fsm.engine import Engine
from fsm.logs import forward

CONFIG = """{"Dhcp4": {"lease-database": {
    "type": "postgresql", "name": "kea", "user": "kea", "password": "secret",
    "max-reconnect-tries": 3, "reconnect-wait-time": 100, "on-fail": "serve-retry-continue"}}}"""


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    engine = Engine(parse_text(CONFIG), clock=asyncio.get_running_loop().time)
    forward(engine)  # Kea's messages (IDs, severities, texts) to the logging module
    engine.subscribe(lambda a: print(" ", a) if isinstance(a, Transitioned) else None)
    driver = SimulatedDriver()  # or a live driver with the same interface
    runtime = AsyncioRuntime(engine, driver)
    runtime.start()
    await asyncio.sleep(0.01)
    print("serving:", engine.serving)

    driver.set_up("lease-database", False)  # the database goes away...
    await runtime.use("lease-database")  # ...and the next request notices
    await asyncio.sleep(0.3)  # 3 attempts, 100 ms apart
    print("serving:", engine.serving, engine.backend_states())

    status = await runtime.command({"command": "status-get"})
    print("dhcp-state:", status["arguments"]["dhcp-state"])
    print(await runtime.command({"command": "shutdown", "arguments": {"exit-value": 0}}))
    print("exit code:", await runtime.wait_exit())


asyncio.run(main())
