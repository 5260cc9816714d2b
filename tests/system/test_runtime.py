"""lstmgen.system.runtime: threads and devices."""


def test_automatic_threads_in_range():
    from lstmgen.system.runtime import automatic_threads, available_cores

    assert 1 <= automatic_threads() <= available_cores()
