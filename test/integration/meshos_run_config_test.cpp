// meshos-run's cluster file is checked as strictly as meshosd's config: every problem at once, each where it
// is, exit 2. (A running cluster under meshos-run, its nodes stopped and killed, is e2e_failure_detection's.)
#include <doctest/doctest.h>

#include <string>

#include "meshosd_process.hpp"

using namespace meshos::test;
using namespace std::chrono_literals;

TEST_CASE("meshos-run refuses a bad cluster file with every problem where it is, and exit 2") {
  const std::string dir = scratch_dir("meshos-run-bad");
  write_file(dir + "/cluster.conf",
             "[cluster]\nstop-timout = 1s\n\n[n]\nconfig = \"x.conf\"\nport = \"7001\"\njoin = [\"m\"]\n\n[m]\n");
  ChildProcess run({meshos_run_path(), dir + "/cluster.conf", "--cluster.restart-max=0s"});
  const Exit e = run.wait_exit(deadline_in(20s));
  INFO(run.err());
  CHECK(e.exited);
  CHECK(e.code == 2);
  const std::string file = dir + "/cluster.conf";
  for (const std::string& problem :
       {file + ":2: unknown key stop-timout in [cluster] (did you mean stop-timeout?)",
        file + ":6: [n] port: expected a value of type uint16, got \"7001\"",
        std::string("--cluster.restart-max: [cluster] restart-max: must be a positive duration"),
        file + ":7: [n] join: \"m\" comes later in the file (join earlier nodes)",
        file + ":9: [m] config: is required (the node's meshosd config)"}) {
    CAPTURE(problem);
    CHECK(run.err().find("meshos-run: " + problem + "\n") != std::string::npos);
  }
  CHECK(run.out().empty());
}
