from judges.usage import Budget, Usage, accumulate, difference


def test_accumulate_and_difference():
    a = {"model": "m", "requests": 3, "errors": {"timeout": 1}, "cost_usd": None, "wall_s": 1.5}
    b = {"model": "m", "requests": 5, "errors": {"timeout": 1, "server": 2}, "cost_usd": 0.25, "wall_s": 0.5}
    total = accumulate(accumulate(None, a), b)
    assert total["requests"] == 8 and total["errors"] == {"timeout": 2, "server": 2}
    assert total["cost_usd"] == 0.25 and total["wall_s"] == 2.0
    after = {"model": "m", "requests": 10, "errors": {"timeout": 4}, "cost_usd": 1.0}
    assert difference(after, {"requests": 4, "errors": {"timeout": 1}, "cost_usd": None}) == {
        "model": "m", "requests": 6, "errors": {"timeout": 3}, "cost_usd": 1.0}


def test_pricing_and_budget():
    u = Usage(prompt_tokens=2_000_000, completion_tokens=500_000, requests=7)
    assert u.priced(0.5, 2.0).cost_usd == 2.0 and u.priced(None, None).cost_usd is None
    assert Budget().exceeded(u) is None
    assert "request budget" in Budget(max_requests=7).exceeded(u)
    assert "token budget" in Budget(max_tokens=2_500_000).exceeded(u)
