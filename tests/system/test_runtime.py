"""lstmgen.system.runtime: threads and devices."""


def test_automatic_threads_in_range():
    from lstmgen.system.runtime import automatic_threads, available_cores

    assert 1 <= automatic_threads() <= available_cores()


def test_the_machine_record_names_the_cpu_and_its_flags():
    from lstmgen.system.runtime import cpu_summary, machine_record

    record = machine_record(threads=3)
    assert record["threads"] == 3 and record["cores"] >= 1 and record["cpu_flags"] == cpu_summary()
    assert record["torch"] and record["python"] and record["architecture"]
