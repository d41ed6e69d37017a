"""Priority slots: a free slot goes to the highest-priority waiter, Jobs (flows) of one priority
in turn and each flow's requests in order; never more holders than slots; a cancelled waiter
loses nothing and leaks nothing."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodewave.kube.slots import REQUEST_FLOW, REQUEST_PRIORITY, PrioritySlots, effective_priority


async def _order(size: int, priorities: list[int], flows: list[str] | None = None) -> list[int]:
    """Index order in which waiters of `priorities` (and `flows`, one flow if None) get a slot
    while all slots start held."""
    slots = PrioritySlots(size)
    order: list[int] = []
    gate = asyncio.Event()
    holders = [asyncio.create_task(_hold(slots, gate)) for _ in range(size)]
    await asyncio.sleep(0)

    async def wait(i: int, p: int) -> None:
        async with slots.slot(p, flows[i] if flows else "one"):
            order.append(i)
            await asyncio.sleep(0)

    waiters = [asyncio.create_task(wait(i, p)) for i, p in enumerate(priorities)]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*holders, *waiters)
    return order


async def _hold(slots: PrioritySlots, gate: asyncio.Event) -> None:
    async with slots.slot(0):
        await gate.wait()


async def _one_slot_held() -> tuple[PrioritySlots, asyncio.Event, asyncio.Task[None]]:
    """One slot, taken by a holder until the gate is set: what comes next queues."""
    slots, gate = PrioritySlots(1), asyncio.Event()
    holder = asyncio.create_task(_hold(slots, gate))
    await asyncio.sleep(0)
    return slots, gate, holder


@pytest.mark.parametrize(
    ("priorities", "order"),
    [
        ([0, 0, 0], [0, 1, 2]),  # equal: first come first served
        ([0, 5, 1], [1, 2, 0]),
        ([-1, 0, 1_000_000], [2, 1, 0]),
        ([3, 7, 3, 7], [1, 3, 0, 2]),
    ],
)
def test_highest_priority_first_fifo_among_equals(priorities: list[int], order: list[int]) -> None:
    assert asyncio.run(_order(1, priorities)) == order


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 4), st.lists(st.integers(-3, 3), max_size=12))
def test_grants_follow_priority_then_arrival(size: int, priorities: list[int]) -> None:
    expected = sorted(range(len(priorities)), key=lambda i: (-priorities[i], i))
    assert asyncio.run(_order(size, priorities)) == expected


@pytest.mark.parametrize(
    ("flows", "priorities", "order"),
    [
        # A large Job's backlog, then a small one's: they alternate, each in its own order.
        ("aaaabb", [0] * 6, [0, 4, 1, 5, 2, 3]),
        ("aaabbbccc", [0] * 9, [0, 3, 6, 1, 4, 7, 2, 5, 8]),
        # Priority first: the small Job's high-priority request overtakes every other.
        ("aaab", [0, 0, 0, 5], [3, 0, 1, 2]),
        # Turns are taken within a priority: b's low one waits for every high one.
        ("aabb", [1, 1, 1, 0], [0, 2, 1, 3]),
    ],
)
def test_flows_of_one_priority_take_turns(
    flows: str, priorities: list[int], order: list[int]
) -> None:
    assert asyncio.run(_order(1, priorities, list(flows))) == order


def test_a_flow_that_arrives_late_is_served_next_not_last() -> None:
    """A 5,000-node Job's creates already waiting, a 10-node Job's arriving after the first
    grants: its first request is granted within a turn, not behind the backlog."""

    async def main() -> list[str]:
        slots = PrioritySlots(1)
        got: list[str] = []
        ten = asyncio.Event()

        async def request(flow: str) -> None:
            async with slots.slot(0, flow):
                got.append(flow)
                if len(got) == 10:
                    ten.set()
                await asyncio.sleep(0)

        big = [asyncio.create_task(request("big")) for _ in range(50)]
        await ten.wait()
        small = [asyncio.create_task(request("small")) for _ in range(3)]
        await asyncio.gather(*big, *small)
        return got

    got = asyncio.run(main())
    firsts = [i for i, flow in enumerate(got) if flow == "small"]
    assert firsts[0] <= 12, got
    assert firsts[-1] <= 17, got


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 2)), max_size=14))
def test_grants_are_by_priority_fair_across_flows_and_ordered_within_one(
    arrivals: list[tuple[str, int]],
) -> None:
    flows, priorities = [f for f, _ in arrivals], [p for _, p in arrivals]
    order = asyncio.run(_order(1, priorities, flows))
    assert sorted(order) == list(range(len(arrivals)))
    granted = [priorities[i] for i in order]
    assert granted == sorted(granted, reverse=True)
    for flow in "abc":
        mine = [i for i in order if flows[i] == flow]
        assert [priorities[i] for i in mine] == sorted((priorities[i] for i in mine), reverse=True)
        for level in set(priorities):
            same = [i for i in mine if priorities[i] == level]
            assert same == sorted(same)  # a flow's requests of one priority keep their order
    # Fair: at one priority, no flow gets a second grant more than a turn ahead of another
    # flow that still has a request waiting at that priority.
    for level in set(priorities):
        served: dict[str, int] = {}
        waiting = {
            f: sum(1 for i, p in enumerate(priorities) if p == level and flows[i] == f)
            for f in "abc"
        }
        for i in (i for i in order if priorities[i] == level):
            served[flows[i]] = served.get(flows[i], 0) + 1
            waiting[flows[i]] -= 1
            for other in "abc":
                if waiting[other] > 0:
                    assert served[flows[i]] <= served.get(other, 0) + 1, (order, arrivals)


def test_never_more_holders_than_slots_and_all_slots_come_back() -> None:
    async def main() -> None:
        slots = PrioritySlots(3)
        holding = peak = 0

        async def work(p: int) -> None:
            nonlocal holding, peak
            async with slots.slot(p):
                holding += 1
                peak = max(peak, holding)
                await asyncio.sleep(0)  # let the others try meanwhile
                holding -= 1

        await asyncio.gather(*(work(i % 5) for i in range(60)))
        assert peak == 3
        # All three slots are free again: three holders are inside at once (a lost slot would
        # leave the third waiting, and the wait below would time out).
        inside = 0
        all_in, leave = asyncio.Event(), asyncio.Event()

        async def enter() -> None:
            nonlocal inside
            async with slots.slot(0):
                inside += 1
                if inside == 3:
                    all_in.set()
                await leave.wait()

        tasks = [asyncio.create_task(enter()) for _ in range(3)]
        await asyncio.wait_for(all_in.wait(), timeout=5)
        leave.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_a_cancelled_waiter_is_skipped_and_a_cancelled_grant_is_passed_on() -> None:
    async def main() -> None:
        slots, gate, holder = await _one_slot_held()
        got: list[str] = []

        async def want(name: str, p: int) -> None:
            async with slots.slot(p):
                got.append(name)

        high = asyncio.create_task(want("high", 9))
        low = asyncio.create_task(want("low", 0))
        await asyncio.sleep(0)
        high.cancel()  # gives up while waiting
        gate.set()
        await holder
        await asyncio.gather(high, low, return_exceptions=True)
        assert got == ["low"]

        # Granted, then cancelled before it could run: the slot goes to the next waiter.
        gate.clear()
        holder = asyncio.create_task(_hold(slots, gate))
        await asyncio.sleep(0)
        first = asyncio.create_task(want("first", 1))
        second = asyncio.create_task(want("second", 0))
        await asyncio.sleep(0)
        gate.set()
        await asyncio.sleep(0)  # the holder leaves and hands the slot to `first`
        first.cancel()
        # A lost slot would leave `second` waiting for ever.
        await asyncio.wait_for(asyncio.gather(holder, first, second, return_exceptions=True), 5)
        assert got == ["low", "second"]

    asyncio.run(main())


def test_the_flow_comes_from_the_context_of_the_pass() -> None:
    async def main() -> list[str]:
        slots, gate, holder = await _one_slot_held()
        got: list[str] = []
        tasks: list[asyncio.Task[None]] = []

        async def pass_of(job: str, requests: int) -> None:
            REQUEST_FLOW.set(job)
            for _ in range(requests):
                await asyncio.sleep(0)  # each request a task of the pass, as the writes are

                async def request() -> None:
                    async with slots.slot():
                        got.append(job)

                tasks.append(asyncio.create_task(request()))

        await asyncio.create_task(pass_of("big", 4))
        await asyncio.create_task(pass_of("small", 2))
        await asyncio.sleep(0.01)
        gate.set()
        await asyncio.gather(holder, *tasks)
        return got

    assert asyncio.run(main()) == ["big", "small", "big", "small", "big", "big"]
    assert REQUEST_FLOW.get() is None


def test_the_priority_comes_from_the_context_of_the_pass() -> None:
    async def main() -> list[str]:
        slots, gate, holder = await _one_slot_held()
        got: list[str] = []

        async def pass_of(name: str, priority: int) -> None:
            REQUEST_PRIORITY.set(priority)

            async def request() -> None:  # a task the pass starts inherits its priority
                async with slots.slot():
                    got.append(name)

            await asyncio.create_task(request())

        tasks = [asyncio.create_task(pass_of("low", 0)), asyncio.create_task(pass_of("high", 5))]
        await asyncio.sleep(0.01)
        gate.set()
        await asyncio.gather(holder, *tasks)
        return got

    assert asyncio.run(main()) == ["high", "low"]
    assert REQUEST_PRIORITY.get() == 0


def test_at_least_one_slot() -> None:
    with pytest.raises(ValueError, match="slot"):
        PrioritySlots(0)


@pytest.mark.parametrize(
    ("requested", "cap", "effective"),
    [(0, 1000, 0), (1000, 1000, 1000), (1_000_000_000, 1000, 1000), (-5, 1000, -5), (7, 5, 5)],
)
def test_a_jobs_priority_is_capped(requested: int, cap: int, effective: int) -> None:
    assert effective_priority(requested, cap) == effective
