"""The chaos run's cheap faults are real: a cut connection, a paused process."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path
from urllib.parse import urlsplit

import nats
from nats.aio.msg import Msg

from tests.integration.agent_support import WAIT, wait_set
from tests.support import assert_eventually
from tools.chaos_faults import CuttingProxy, advertise_no_addresses, pause, resume


async def test_a_cut_connection_comes_back_through_the_proxy(nats_url: str) -> None:
    target = urlsplit(nats_url.split(",")[0])
    proxy = CuttingProxy([(target.hostname or "127.0.0.1", target.port or 4222)])
    await proxy.start()
    lost, back = asyncio.Event(), asyncio.Event()

    async def disconnected() -> None:
        lost.set()

    async def reconnected() -> None:
        back.set()

    nc = await nats.connect(
        servers=proxy.url.split(","),
        reconnect_time_wait=0.1,
        max_reconnect_attempts=-1,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
    )
    try:

        async def echo(msg: Msg) -> None:
            await msg.respond(msg.data)

        sub = await nc.subscribe("chaos.faults.echo", cb=echo)
        assert (await nc.request("chaos.faults.echo", b"1", timeout=WAIT)).data == b"1"
        assert proxy.cut(random.Random(1))
        await wait_set(lost, "the client noticing the cut")
        await wait_set(back, "the client reconnecting")
        assert nc.connected_url is not None and nc.connected_url.port in proxy.ports
        assert (await nc.request("chaos.faults.echo", b"2", timeout=WAIT)).data == b"2"
        await sub.unsubscribe()
    finally:
        await nc.close()
        await proxy.close()
    assert not proxy.cut(random.Random(1))  # nothing left to cut


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


async def test_a_paused_process_stops_and_goes_on() -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(60)")
    try:
        assert pause(proc.pid)

        async def stopped() -> bool:
            return _state(proc.pid) == "T"

        await assert_eventually(stopped, timeout=WAIT, message="not stopped")
        resume(proc.pid)

        async def going() -> bool:
            return _state(proc.pid) != "T"

        await assert_eventually(going, timeout=WAIT, message="not continued")
    finally:
        proc.kill()
        await proc.wait()
    assert not pause(proc.pid)  # gone: nothing to pause


def test_the_nodes_are_told_not_to_advertise(tmp_path: Path) -> None:
    conf = tmp_path / "n1" / "node.conf"
    conf.parent.mkdir()
    conf.write_text('server_name: "a"\ncluster {\n  name: "c"\n}\n')
    advertise_no_addresses(tmp_path)
    advertise_no_addresses(tmp_path)  # once only
    assert conf.read_text() == 'server_name: "a"\ncluster {\n  no_advertise: true\n  name: "c"\n}\n'
