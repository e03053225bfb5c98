"""Schedules without waiting: triggers, cron lines in a time zone, backoff, first runs, the
digest day, what a reload changes, the cap on polls at once — all with an injected "now"."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.config import LocalTarget, Settings, settings_from_dict
from monitor.daemon.reload import plan_reload
from monitor.daemon.scheduler import (
    backoff_delay,
    build_scheduler,
    cron_trigger,
    first_run,
    interval_of,
    last_digest_day,
    target_trigger,
    weekday_field,
)
from monitor.daemon.tasks import Slots

PARIS = ZoneInfo("Europe/Paris")
M = timedelta(minutes=1)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def target(**kw: object) -> LocalTarget:
    return LocalTarget.model_validate({"name": "t", "kind": "local", "path": "/srv", **kw})


def next_runs(trigger: object, now: datetime, count: int) -> list[datetime]:
    runs: list[datetime] = []
    previous = None
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, previous or now)  # type: ignore[attr-defined]
        runs.append(previous)  # type: ignore[arg-type]
    return runs


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("*", "*"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("*/2", "sun,tue,thu,sat"),  # APScheduler 3 alone would count from Monday
        ("sat,sun", "sun,sat"),
        ("5-7", "sun,fri,sat"),
        ("mon-fri/2", "mon,wed,fri"),
        ("MON,3", "mon,wed"),
    ],
)
def test_crontab_weekdays_mean_what_cron_means(field: str, expected: str) -> None:
    assert weekday_field(field) == expected


@pytest.mark.parametrize("field", ["8", "fri-mon", "someday", "1-"])
def test_bad_weekdays_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match="weekday"):
        weekday_field(field)


def test_cron_runs_in_the_configured_zone() -> None:
    saturday = paris(2026, 11, 21, 10, 0)
    weekdays = target_trigger(target(cron="0 8 * * 1-5", jitter="0s"), PARIS)
    assert next_runs(weekdays, saturday, 2) == [paris(2026, 11, 23, 8), paris(2026, 11, 24, 8)]
    assert weekdays.get_next_fire_time(None, saturday).astimezone(UTC).hour == 7
    sunday = cron_trigger("0 8 * * 0", PARIS)
    assert next_runs(sunday, saturday, 1) == [paris(2026, 11, 22, 8)]  # 0 is Sunday, as in cron
    tokyo = cron_trigger("0 8 * * *", ZoneInfo("Asia/Tokyo"))
    assert tokyo.get_next_fire_time(None, saturday).astimezone(UTC) == datetime(
        2026, 11, 21, 23, 0, tzinfo=UTC
    )


def test_cron_with_day_and_weekday_fires_on_either() -> None:
    first_or_monday = cron_trigger("0 0 1 * 1", PARIS)
    tuesday = paris(2026, 11, 24, 12)
    assert next_runs(first_or_monday, tuesday, 3) == [
        paris(2026, 11, 30),  # a Monday
        paris(2026, 12, 1),  # the 1st (a Tuesday)
        paris(2026, 12, 7),
    ]


def test_cron_across_a_daylight_saving_change_fires_once_a_day() -> None:
    nightly = cron_trigger("30 2 * * *", PARIS)  # 02:30 does not exist on 28 March 2027
    runs = next_runs(nightly, paris(2027, 3, 27, 12), 2)
    assert [r.astimezone(PARIS).date() for r in runs] == [date(2027, 3, 28), date(2027, 3, 29)]
    assert runs[1] - runs[0] == timedelta(hours=24)


def test_every_and_jitter() -> None:
    now = paris(2026, 11, 21, 10)
    plain = target_trigger(target(every="30m", jitter="0s"), PARIS, start=now)
    assert next_runs(plain, now, 3) == [now, now + 30 * M, now + 60 * M]
    spread = target_trigger(target(every="30m", jitter="2m"), PARIS, start=now)
    runs = next_runs(spread, now, 10)
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert all(30 * M <= g <= 32 * M for g in gaps) and len(set(gaps)) > 1
    calm = target_trigger(target(every="30m", jitter="2m"), PARIS, jitter=False, start=now)
    assert next_runs(calm, now, 2) == [now, now + 30 * M]
    # A jitter longer than the interval is cut to half of it: runs keep their pace.
    short = target_trigger(target(every="2s", jitter="30s"), PARIS, start=now)
    runs = next_runs(short, now, 20)
    assert all(
        timedelta(seconds=2) <= b - a <= timedelta(seconds=3) for a, b in itertools.pairwise(runs)
    )


def test_interval_of_a_cron_line_is_the_gap_between_its_runs() -> None:
    now = paris(2026, 11, 21, 10, 7)
    assert interval_of(target(cron="*/15 * * * *"), PARIS, now) == 15 * M
    assert interval_of(target(cron="0 8 * * *"), PARIS, now) == timedelta(days=1)
    assert interval_of(target(every="5m"), PARIS, now) == 5 * M


def test_backoff_doubles_up_to_the_cap() -> None:
    cap = 5 * M
    assert [backoff_delay(M, n, cap) for n in range(6)] == [M, M, 2 * M, 4 * M, 5 * M, 5 * M]
    assert backoff_delay(M, 10_000, cap) == cap  # no overflow
    assert backoff_delay(10 * M, 3, cap) == 10 * M  # never sooner than the schedule


def test_first_run_follows_the_last_poll() -> None:
    now = paris(2026, 11, 21, 10)
    every = target(every="30m")
    kw = {"now": now, "backoff_max": timedelta(hours=1)}
    assert first_run(every, PARIS, last_poll=None, **kw) == now
    assert first_run(every, PARIS, last_poll=now - 10 * M, **kw) == now + 20 * M
    assert first_run(every, PARIS, last_poll=now - 5 * every.every, **kw) == now  # made up once
    assert first_run(every, PARIS, last_poll=now - 10 * M, failures=3, **kw) == now + 50 * M
    weekdays = target(cron="0 8 * * 1-5")
    friday = paris(2026, 11, 20, 8)
    assert first_run(weekdays, PARIS, last_poll=friday, **kw) == paris(2026, 11, 23, 8)
    monday = {**kw, "now": paris(2026, 11, 23, 9)}
    assert first_run(weekdays, PARIS, last_poll=friday, **monday) == paris(2026, 11, 23, 9)


def test_last_digest_day() -> None:
    at = time(8, 0)
    assert last_digest_day(paris(2026, 11, 24, 7, 59), PARIS, at) == date(2026, 11, 22)
    assert last_digest_day(paris(2026, 11, 24, 8, 0), PARIS, at) == date(2026, 11, 23)
    late_utc = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # 00:30 on the 24th in Paris
    assert last_digest_day(late_utc, PARIS, at) == date(2026, 11, 22)


def test_scheduler_defaults() -> None:
    async def job() -> None:
        pass

    async def scenario() -> tuple[object, ...]:
        scheduler = build_scheduler(Settings(timezone="Europe/Paris"))
        scheduler.start(paused=True)
        added = scheduler.add_job(job, target_trigger(target(), PARIS))
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)
        return (added.coalesce, added.max_instances, added.misfire_grace_time, scheduler.timezone)

    assert asyncio.run(scenario()) == (True, 1, None, PARIS)


def config(text: str) -> Settings:
    return settings_from_dict(
        __import__("tomllib").loads(text), path=Path("/etc/monitor/m.toml"), environ={}
    )


def local(name: str, extra: str = "") -> str:
    return f'[[target]]\nname = "{name}"\nkind = "local"\npath = "/srv/{name}"\n{extra}\n'


def test_plan_reload_names_what_changed() -> None:
    old = config(
        local("a", 'every = "1m"')
        + local("b")
        + local("c", 'cron = "0 8 * * *"')
        + local("d", "enabled = false")
        + local("e")
    )
    new = config(
        '[daemon]\nmax_polls = 2\n[notify]\ndigest_at = "07:00"\n'
        + local("a", 'every = "5m"')
        + local("c", 'cron = "0 8 * * *"\nsettle = "2h"')
        + local("d")
        + local("e", "enabled = false")
        + local("f")
    )
    plan = plan_reload(old, new)
    assert (plan.added, plan.removed) == (["d", "f"], ["b", "e"])
    assert (plan.rescheduled, plan.updated) == (["a"], ["c"])
    assert (plan.daemon, plan.notify) == (["max_polls"], ["digest_at"])
    assert not plan.database and not plan.timezone and not plan.empty
    assert plan_reload(old, old).empty
    moved = plan_reload(old, config('timezone = "Asia/Tokyo"\ndata_dir = "/x"\n' + local("c")))
    assert moved.database and moved.timezone
    sections = 'reviewer = "ana"\n[archive]\ntimeout = "5m"\n[web]\nport = 9000\n'
    other = plan_reload(config(local("a")), config(sections + local("a")))
    assert other.sections == ["reviewer", "archive", "web"] and not other.empty
    assert not (other.added or other.updated or other.daemon or other.notify)


def test_slots_cap_polls_and_follow_a_new_limit() -> None:
    async def scenario() -> list[int]:
        slots = Slots(2)
        seen: list[int] = []
        release = asyncio.Event()

        async def poll() -> None:
            if await slots.acquire():
                seen.append(slots.used)
                await release.wait()
                slots.release()

        tasks = [asyncio.create_task(poll()) for _ in range(5)]
        await asyncio.sleep(0.01)
        assert slots.used == 2
        slots.resize(3)
        await asyncio.sleep(0.01)
        assert slots.used == 3
        slots.close()
        release.set()
        await asyncio.gather(*tasks)
        assert slots.used == 0 and not await slots.acquire()
        return seen

    assert max(asyncio.run(scenario())) == 3
