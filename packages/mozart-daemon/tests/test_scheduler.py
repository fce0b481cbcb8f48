from mozart_daemon.scheduler import GlobalSheetScheduler, SheetGraph


def seq(n: int) -> dict[int, list[int]]:
    return {i: ([i - 1] if i > 1 else []) for i in range(1, n + 1)}


def drain(s: GlobalSheetScheduler) -> list[tuple[str, int]]:
    out = []
    while (nxt := s.next_sheet()) is not None:
        out.append(nxt)
    return out


def test_sequential_job_runs_in_dependency_order() -> None:
    s = GlobalSheetScheduler(max_concurrent_sheets=10)
    s.register("a", dependencies=seq(3))
    assert drain(s) == [("a", 1)]
    s.mark_complete("a", 1)
    assert drain(s) == [("a", 2)]
    s.mark_complete("a", 2)
    assert drain(s) == [("a", 3)]
    s.mark_complete("a", 3)
    assert s.is_finished("a")


def test_done_sheets_are_never_dispatched() -> None:
    s = GlobalSheetScheduler(max_concurrent_sheets=10)
    s.register("a", dependencies=seq(3), done={1, 2})
    assert drain(s) == [("a", 3)]


def test_parallel_cap_and_global_cap() -> None:
    free = {i: [] for i in range(1, 7)}
    s = GlobalSheetScheduler(max_concurrent_sheets=4)
    s.register("a", dependencies=free, max_parallel=3)
    s.register("b", dependencies=free, max_parallel=3)
    got = drain(s)
    assert len(got) == 4
    assert sum(1 for j, _ in got if j == "a") == 2  # fair share: alternates
    assert sum(1 for j, _ in got if j == "b") == 2


def test_priority_wins_and_fair_share_among_equals() -> None:
    free = {i: [] for i in range(1, 4)}
    s = GlobalSheetScheduler(max_concurrent_sheets=1)
    s.register("low", dependencies=free, priority=1, max_parallel=3)
    s.register("high", dependencies=free, priority=9, max_parallel=3)
    assert s.next_sheet() == ("high", 1)
    s.mark_complete("high", 1)
    assert s.next_sheet() == ("high", 2)


def test_round_robin_between_equal_jobs() -> None:
    s = GlobalSheetScheduler(max_concurrent_sheets=1)
    s.register("a", dependencies={1: [], 2: []}, max_parallel=2)
    s.register("b", dependencies={1: [], 2: []}, max_parallel=2)
    order = []
    for _ in range(4):
        nxt = s.next_sheet()
        assert nxt is not None
        order.append(nxt[0])
        s.mark_complete(*nxt)
    assert order in (["a", "b", "a", "b"], ["b", "a", "b", "a"])


def test_rate_limited_backend_is_skipped() -> None:
    limited = {"claude"}
    s = GlobalSheetScheduler(max_concurrent_sheets=5, is_rate_limited=lambda b: b in limited)
    s.register("a", dependencies={1: []}, backend="claude", priority=9)
    s.register("b", dependencies={1: []}, backend="command")
    assert drain(s) == [("b", 1)]
    limited.clear()
    assert drain(s) == [("a", 1)]


def test_token_budget_blocks_backend() -> None:
    budget = {"x": False}
    s = GlobalSheetScheduler(max_concurrent_sheets=5, has_capacity=lambda b: budget[b])
    s.register("a", dependencies={1: [], 2: []}, backend="x", max_parallel=2)
    assert drain(s) == []
    budget["x"] = True
    assert drain(s) == [("a", 1), ("a", 2)]


def test_paused_job_gets_nothing_and_requeue() -> None:
    s = GlobalSheetScheduler(max_concurrent_sheets=5)
    s.register("a", dependencies=seq(2))
    s.set_paused("a", True)
    assert s.next_sheet() is None
    s.set_paused("a", False)
    assert s.next_sheet() == ("a", 1)
    s.requeue("a", 1)
    assert s.next_sheet() == ("a", 1)


def test_failure_blocks_dependents_and_finishes_job() -> None:
    s = GlobalSheetScheduler(max_concurrent_sheets=5)
    s.register("a", dependencies={1: [], 2: [1], 3: []}, max_parallel=3)
    assert sorted(drain(s)) == [("a", 1), ("a", 3)]
    s.mark_complete("a", 1, success=False)
    assert not s.is_finished("a")
    s.mark_complete("a", 3)
    assert s.is_finished("a")
    assert s.blocked_sheets("a") == {2}


def test_running_count_across_jobs_and_what_ends_their_sheets() -> None:
    s = GlobalSheetScheduler(max_concurrent_sheets=3)
    s.register("a", dependencies={1: [], 2: [], 3: []}, max_parallel=3)
    s.register("b", dependencies={1: [], 2: []}, max_parallel=2)

    def counted() -> int:
        return len(s.running_of("a")) + len(s.running_of("b"))

    assert len(drain(s)) == 3
    assert s.running_count == counted() == 3
    assert s.next_sheet() is None  # the global cap
    first, *rest = sorted(s.running_of("a"))
    s.mark_complete("a", first)
    s.mark_complete("a", first)  # twice: counted once
    assert s.running_count == counted() == 2
    for sheet in rest:
        s.requeue("a", sheet)
    s.requeue("a", first)  # done, not running: nothing changes
    assert s.running_count == counted()
    s.unregister("b")  # its running sheets no longer count
    assert s.running_count == counted()
    s.register("a", dependencies={1: [], 2: [], 3: []}, done={1, 2, 3})  # again: anew
    assert s.running_count == 0
    assert s.next_sheet() is None


def test_only_jobs_with_a_ready_sheet_are_looked_at_and_ties_go_by_registration() -> None:
    s = GlobalSheetScheduler(max_concurrent_sheets=10)
    s.register("a", dependencies=seq(2))
    s.set_paused("a", True)
    s.register("b", dependencies=seq(2))
    s.register("c", dependencies=seq(1))
    assert s.next_sheet() == ("b", 1)  # a paused; b before c: registered first
    s.set_paused("a", False)
    assert drain(s) == [("a", 1), ("c", 1)]  # never served, equal: in registration order
    s.mark_complete("c", 1)
    assert s.is_finished("c")
    s.mark_complete("b", 1)  # b's sheet 2 ready: b is looked at again
    s.mark_complete("a", 1)
    assert drain(s) == [("b", 2), ("a", 2)]  # b served longer ago
    s.requeue("a", 2)
    s.unregister("b")
    assert drain(s) == [("a", 2)]
    s.register("d", dependencies={1: [2], 2: [1]})  # nothing can ever be ready
    assert s.next_sheet() is None
    assert not s.is_finished("d")


def test_jobs_sharing_a_sheet_graph_progress_apart() -> None:
    """One SheetGraph, shared by the jobs of one plan, is never changed by them: each job
    runs its sheets in dependency order whatever the other did, a done sheet included."""
    graph = SheetGraph({1: [], 2: [1], 3: [1], 4: [2, 3]})
    s = GlobalSheetScheduler(max_concurrent_sheets=10)
    s.register("a", dependencies=graph, max_parallel=2)
    s.register("b", dependencies=graph, done={1}, max_parallel=2)
    assert sorted(drain(s)) == [("a", 1), ("b", 2), ("b", 3)]
    for n in (2, 3):
        s.mark_complete("b", n)
    assert drain(s) == [("b", 4)]
    s.mark_complete("a", 1)
    assert sorted(drain(s)) == [("a", 2), ("a", 3)]
    s.register("c", dependencies=graph)
    assert drain(s) == [("c", 1)]
    assert graph.roots == (1,) and graph.others == {2, 3, 4}
    assert graph.dependents == {1: [2, 3], 2: [4], 3: [4]}


def test_a_plans_sheet_graph_is_made_once() -> None:
    from mozart_daemon.jobs.runtime import sheet_graph
    from mozart_protocol.score import Plan, build_plan
    from mozart_protocol.score.model import decode_score

    def plan(items: int) -> Plan:
        score = {"name": "g", "sheet": {"size": 1, "total_items": items},
                 "prompt": {"template": "x"}}  # fmt: skip
        return build_plan(decode_score(score))

    small, other = plan(3), plan(2)
    assert sheet_graph(small) is sheet_graph(small)
    assert sheet_graph(other) is not sheet_graph(small)
    assert sheet_graph(small).deps == {s.sheet_num: s.dependencies for s in small.sheets}
