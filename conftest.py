"""Real servers for the tests: RabbitMQ (nameko's vhost per test) and an embedded MongoDB.

``MONGO_URI`` points the tests at an existing MongoDB; otherwise a SecantusDB server is
started once for the session. Every test gets its own vhost and its own database names.
"""

import eventlet

eventlet.monkey_patch()  # noqa: E402  nameko 2.14.1's pytest plugin no longer does this

import collections  # noqa: E402
import gc  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
import uuid  # noqa: E402

import greenlet  # noqa: E402
import pytest  # noqa: E402
from eventlet import hubs  # noqa: E402
from pymongo import MongoClient  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scripts.run import embedded_mongo_command, embedded_mongo_uri  # noqa: E402
from tests.servers import forget_databases, free_port, wait_for_mongo  # noqa: E402

# A test phase (setup, call or teardown) that waits longer than this fails on its own,
# with the stack of every green thread printed, and the run goes on.
PHASE_LIMIT = float(os.environ.get("TEST_PHASE_LIMIT", "240"))


class PhaseTimeout(BaseException):
    """Thrown into a test phase that waited past PHASE_LIMIT."""


def green_stacks():
    """Every live green thread's stack, identical stacks folded together."""
    stacks = collections.Counter()
    for obj in gc.get_objects():
        try:
            if isinstance(obj, greenlet.greenlet) and obj.gr_frame is not None:
                stacks["".join(traceback.format_stack(obj.gr_frame))] += 1
        except ReferenceError:  # a weak proxy whose object is gone
            continue
    parts = [f"--- {n} green thread(s):\n{stack}" for stack, n in stacks.most_common()]
    return "\n".join(parts)


def _limited(item, phase):
    waiting = greenlet.getcurrent()

    def expire():
        sys.__stderr__.write(
            f"\n{item.nodeid} {phase} waited more than {PHASE_LIMIT:.0f} s; green threads:\n{green_stacks()}\n"
        )
        sys.__stderr__.flush()
        waiting.throw(PhaseTimeout(f"{phase} waited more than {PHASE_LIMIT:.0f} s"))

    return hubs.get_hub().schedule_call_global(PHASE_LIMIT, expire)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    timer = _limited(item, "setup")
    try:
        yield
    finally:
        timer.cancel()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    timer = _limited(item, "call")
    try:
        yield
    finally:
        timer.cancel()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    timer = _limited(item, "teardown")
    try:
        yield
    finally:
        timer.cancel()


@pytest.fixture(scope="session")
def rabbit_manager(request):
    """nameko's management API client, each request tried again while the API drops the
    connection for a moment: nameko's vhost pipeline creates vhosts in a green thread that dies
    on the first error, and every test after it would then wait for a vhost forever."""
    from nameko.testing import rabbit

    class Patient(rabbit.Client):
        def _request(self, method, *args, **kwargs):
            for attempt in range(10):
                try:
                    return super()._request(method, *args, **kwargs)
                except Exception:  # noqa: BLE001 - the API's connection error
                    if attempt == 9:
                        raise
                    eventlet.sleep(0.5 * (attempt + 1))

    return Patient(request.config.getoption("RABBIT_API_URI"))


@pytest.fixture(scope="session")
def mongo_uri():
    if os.environ.get("MONGO_URI"):
        yield os.environ["MONGO_URI"]
        return
    port = free_port()
    data = tempfile.mkdtemp(prefix="secantus-test-")
    proc = subprocess.Popen(
        embedded_mongo_command(str(port), data, "WARNING"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = embedded_mongo_uri(port)
    try:
        wait_for_mongo(uri)
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def db_prefix(mongo_uri):
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    yield prefix
    forget_databases(mongo_uri, prefix)


@pytest.fixture
def service_config(rabbit_config, mongo_uri, db_prefix):
    from common.config import nameko_config

    return nameko_config(
        AMQP_URI=rabbit_config["AMQP_URI"],
        MONGO_URI=mongo_uri,
        DB_PREFIX=db_prefix,
        WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}",
    )


@pytest.fixture
def mongo(mongo_uri):
    client = MongoClient(mongo_uri, tz_aware=True)
    yield client
    client.close()
