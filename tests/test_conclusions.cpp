// The rules that turn a comparison's numbers into sentences
// (report/include/normgrad/report/conclusions.h): each verdict on hand-made numbers, and the text
// naming exactly what the numbers support.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "normgrad/report/conclusions.h"
#include "normgrad/report/figures.h"
#include "normgrad/report/paired_t.h"
#include "normgrad/report/staging.h"
#include "normgrad/report/tune.h"

using namespace ngcli;

namespace {

std::vector<SeedVal> vals(std::initializer_list<double> v, uint64_t first_seed = 1) {
  std::vector<SeedVal> out;
  uint64_t s = first_seed;
  for (double x : v) out.push_back({s++, x});
  return out;
}

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("paired t: Student's t quantiles and p against tabulated values") {
    CHECK(student_t_two_sided(0.95, 1) == doctest::Approx(12.7062).epsilon(1e-5));
    CHECK(student_t_two_sided(0.95, 2) == doctest::Approx(4.302653).epsilon(1e-6));
    CHECK(student_t_two_sided(0.95, 4) == doctest::Approx(2.776445).epsilon(1e-6));
    CHECK(student_t_two_sided(0.99, 30) == doctest::Approx(2.749996).epsilon(1e-6));
    CHECK(student_t_cdf(0.0, 3) == doctest::Approx(0.5));
    CHECK(student_t_cdf(1.0, 1) == doctest::Approx(0.75).epsilon(1e-12));  // Cauchy
    CHECK(student_t_cdf(-1.0, 1) == doctest::Approx(0.25).epsilon(1e-12));
    CHECK(student_t_cdf(2.0, 10) == doctest::Approx(1 - 0.0733880 / 2).epsilon(1e-6));
    CHECK(student_t_cdf(3.0, 2) == doctest::Approx(0.9522670).epsilon(1e-6));
    // the interval of 3 differences with mean 0.1 and sd 0.01
    const TInterval ci = paired_t(Stats{0.1, 0.01, 3});
    CHECK(ci.half == doctest::Approx(4.302653 * 0.01 / std::sqrt(3.0)).epsilon(1e-6));
    CHECK(ci.resolved());
    // df 2 has a closed form: p = 1 - t / sqrt(t^2 + 2), here t = sqrt(300)
    CHECK(ci.p == doctest::Approx(1 - std::sqrt(300.0) / std::sqrt(302.0)).epsilon(1e-6));
    CHECK(interval_words(ci) == "[+0.0752, +0.1248], p = 0.003");
    CHECK(!paired_t(Stats{0.1, 0.0, 1}).resolved());  // one difference: no interval
    CHECK(interval_words(paired_t(Stats{0.1, 0.0, 1})) == "no interval");
  }

  TEST_CASE("conclusions: paired gaps and their verdicts") {
    const auto best = vals({2.00, 2.10, 1.90});
    // the same per-seed offset: a tiny but consistent gap has zero spread: its interval is the
    // point 0.01, which excludes 0, so it is "worse"
    auto g = paired_gap(vals({2.01, 2.11, 1.91}), best, false);
    CHECK(g.verdict == "worse");
    CHECK(g.d.mean == doctest::Approx(0.01));
    CHECK(g.d.n == 3);
    // unpaired spread is large (seeds differ by 0.1) but the pairing removes it
    // gaps +0.05, -0.04, +0.02: mean 0.01, sd 0.046, 95% interval 0.01 -+ 4.303 x 0.046 /
    // sqrt(3) contains 0: not resolved (which is not "no difference")
    g = paired_gap(vals({2.05, 2.06, 1.92}), best, false);
    CHECK(g.verdict == "not resolved");
    CHECK(g.ci.lo < 0);
    CHECK(g.ci.hi > 0);
    CHECK(g.ci.half == doctest::Approx(4.302653 * g.d.sd / std::sqrt(3.0)).epsilon(1e-6));
    // |mean| > sd, the old rule's "worse", is not enough at 3 seeds: t = 2 gives p = 0.18
    // (gaps 0.04, 0.01, 0.07: t = 2.31 on 2 degrees of freedom, p = 1 - t / sqrt(t^2 + 2))
    g = paired_gap(vals({2.04, 2.11, 1.97}), best, false);
    CHECK(g.d.mean == doctest::Approx(0.04));
    CHECK(std::fabs(g.d.mean) > g.d.sd);
    CHECK(g.verdict == "not resolved");
    const double t2 = 0.04 / (0.03 / std::sqrt(3.0));
    CHECK(g.ci.p == doctest::Approx(1 - t2 / std::sqrt(t2 * t2 + 2)).epsilon(1e-6));
    // a variant ahead of the best on the paired seeds (the best's mean includes a seed the
    // variant did not finish) is "better"
    g = paired_gap(vals({1.95, 2.06, 1.85}), best, false);
    CHECK(g.verdict == "better");
    CHECK(g.ci.hi < 0);
    // only seeds where both finished are paired
    g = paired_gap(vals({2.2}, 3), best, false);
    CHECK(g.verdict == "one seed");
    CHECK(g.d.mean == doctest::Approx(0.3));
    g = paired_gap(vals({2.2}, 9), best, false);
    CHECK(g.verdict == "not comparable");
    CHECK(paired_gap(best, best, true).verdict == "best");
  }

  TEST_CASE("conclusions: the text says what the rules derive, and nothing else") {
    std::vector<VariantSummary> v(4);
    v[0] = {"layernorm", vals({2.50, 2.52, 2.49}), 3, 0, "3 learning"};
    v[1] = {"dyt:alpha0=2", vals({2.38, 2.40, 2.37}), 3, 0, "3 learning"};
    v[2] = {"rmsnorm", vals({2.39, 2.38, 2.39}), 3, 0, "3 learning"};
    v[3] = {"dyt", vals({3.38, 3.39}), 3, 3, "2 collapsed, 1 diverged"};
    const size_t best = 1;
    for (size_t i = 0; i < v.size(); ++i)
      v[i].gap = paired_gap(v[i].finished, v[best].finished, i == best);
    TuningNote untuned{false, "", "lr=0.001, warmup=50", "alpha0 in `dyt:alpha0=2`"};
    std::string t = what_this_shows(v, best, untuned, 400);
    INFO(t);
    CHECK(t.find("Lowest mean val loss (whole validation split): `dyt:alpha0=2`") !=
          std::string::npos);
    CHECK(t.find("Not resolved from it (the 95% paired interval contains 0; not evidence of no "
                 "difference): `rmsnorm` (+0.0033 [") != std::string::npos);
    CHECK(t.find("Worse (95% paired interval above 0; nats): `layernorm` by +0.1200 [+0.1200, "
                 "+0.1200], p < 0.001") != std::string::npos);
    CHECK(t.find("`dyt` by") != std::string::npos);
    CHECK(t.find("Runs that did not learn: `dyt` (2 collapsed, 1 diverged)") != std::string::npos);
    CHECK(t.find("Not tuned equally: every variant shares lr=0.001, warmup=50; set per variant "
                 "by hand: alpha0 in `dyt:alpha0=2`") != std::string::npos);
    CHECK(t.find("not each norm at its best") != std::string::npos);
    CHECK(t.find("One schedule length (400 steps)") != std::string::npos);
    // with one search behind every variant the text may call it "at its best"
    TuningNote searched{true, "lr in {1e-3, 2e-3, 4e-3}, 1 held-out seed", "", ""};
    t = what_this_shows(v, best, searched, 400);
    CHECK(t.find("each variant at its best within that search") != std::string::npos);
    CHECK(t.find("Not tuned equally") == std::string::npos);
    // nothing finished: nothing claimed
    std::vector<VariantSummary> none(1);
    none[0] = {"layernorm", {}, 2, 2, "2 diverged"};
    CHECK(what_this_shows(none, 0, untuned, 400).find("nothing to compare") != std::string::npos);
  }

  TEST_CASE("conclusions: rule 6, a gap across schedule lengths") {
    // per seed gaps 0.15, 0.16, 0.14 at the short length and 0.02, 0.04, 0.01 at the long
    auto t = gap_trend(vals({2.55, 2.56, 2.54}), vals({2.40, 2.40, 2.40}), vals({2.02, 2.04, 2.01}),
                       vals({2.00, 2.00, 2.00}));
    CHECK(t.verdict == "closes");
    CHECK(t.short_gap.mean == doctest::Approx(0.15));
    CHECK(t.long_gap.mean == doctest::Approx(0.0233333));
    CHECK(t.change.mean == doctest::Approx(-0.1266667));
    CHECK(t.change.n == 3);
    CHECK(t.change_ci.hi < 0);
    // the same gap, seeds scattering it: the change is not resolved
    t = gap_trend(vals({2.50, 2.50, 2.50}), vals({2.40, 2.40, 2.40}), vals({2.15, 2.05, 2.10}),
                  vals({2.00, 2.00, 2.00}));
    CHECK(t.verdict == "not resolved");
    t = gap_trend(vals({2.45, 2.46}), vals({2.40, 2.40}), vals({2.20, 2.22}), vals({2.00, 2.00}));
    CHECK(t.verdict == "grows");
    // ahead at the short length, behind at the long one, both beyond their spread: the order
    // reverses (a shrinking magnitude alone would have read "closes")
    t = gap_trend(vals({2.35, 2.36, 2.34}), vals({2.40, 2.40, 2.40}), vals({2.03, 2.04, 2.03}),
                  vals({2.00, 2.00, 2.00}));
    CHECK(t.verdict == "reverses");
    // a sign change inside the spread at one length is not a reversal
    t = gap_trend(vals({2.45, 2.47, 2.46}), vals({2.40, 2.40, 2.40}), vals({1.99, 2.02, 1.98}),
                  vals({2.00, 2.00, 2.00}));
    CHECK(t.verdict == "closes");
    // only seeds finished at both lengths count
    t = gap_trend(vals({2.5, 2.5}), vals({2.4, 2.4}), vals({2.1}, 2), vals({2.0, 2.0}));
    CHECK(t.verdict == "one seed");
    CHECK(gap_trend(vals({2.5}), vals({2.4}), vals({2.1}, 5), vals({2.0}, 5)).verdict ==
          "not comparable");

    // the text: a ranking per length, then the trend against the longest length's best
    auto length = [](int64_t steps, std::vector<std::vector<SeedVal>> runs) {
      LengthSummary l{steps};
      const char* specs[] = {"layernorm", "dyt"};
      for (size_t i = 0; i < runs.size(); ++i)
        l.variants.push_back({specs[i], runs[i], 3, 0, "3 learning"});
      for (size_t i = 1; i < runs.size(); ++i)
        if (stats({runs[i][0].val, runs[i][1].val, runs[i][2].val}).mean <
            stats({runs[l.best][0].val, runs[l.best][1].val, runs[l.best][2].val}).mean)
          l.best = i;
      for (size_t i = 0; i < runs.size(); ++i)
        l.variants[i].gap = paired_gap(runs[i], runs[l.best], i == l.best);
      return l;
    };
    const std::vector<LengthSummary> ladder = {
        length(400, {vals({2.55, 2.56, 2.54}), vals({2.40, 2.40, 2.40})}),
        length(1200, {vals({2.02, 2.04, 2.01}), vals({2.00, 2.00, 2.00})})};
    TuningNote searched{true, "lr in {1e-3, 2e-3}", "", "", 400};
    const std::string text = what_this_shows(ladder, searched);
    INFO(text);
    CHECK(text.find("**At 400 steps.** Lowest mean val loss (whole validation split): `dyt`") !=
          std::string::npos);
    CHECK(text.find("**At 1200 steps.** Lowest mean val loss") != std::string::npos);
    CHECK(text.find("Schedule lengths 400 and 1200 steps") != std::string::npos);
    CHECK(text.find("the recipes were searched at 400 steps") != std::string::npos);
    CHECK(text.find("at its best within that search at 400 steps; the other lengths run the same "
                    "values, which were not searched for them") != std::string::npos);
    CHECK(text.find("the gap closes for `layernorm` +0.1500 -> +0.0233 (change -0.1267 [") !=
          std::string::npos);
    CHECK(text.find("One schedule length") == std::string::npos);
  }

  TEST_CASE("compare --tune: grids, points, and the equal-budget check") {
    auto a = parse_tune_axis("lr=1e-3..1.6e-2x2");
    CHECK(a.key == "lr");
    CHECK(a.values == std::vector<std::string>{"0.001", "0.002", "0.004", "0.008", "0.016"});
    CHECK(parse_tune_axis("warmup=10,50").values == std::vector<std::string>{"10", "50"});
    const auto pts =
        tune_points({parse_tune_axis("lr=1e-3,2e-3"), parse_tune_axis("warmup=10,50")});
    REQUIRE(pts.size() == 4);
    CHECK(point_label(pts[1]) == "lr=1e-3, warmup=50");
    for (const char* bad : {"lr", "lr=", "=1", "lr=1e-3,,2e-3", "lr=1e-3..2e-3", "lr=2..1x2",
                            "lr=1e-3,1e-3", "nonsense_key=1", "lr=abc"})
      CHECK_THROWS_AS(parse_tune_axis(bad), ng::Error);
    // a DyT-only knob would give LayerNorm duplicates: refused, naming both sides
    const std::vector<Variant> mixed = {parse_variant("layernorm"), parse_variant("dyt")};
    CHECK_THROWS_WITH_AS(check_tune_axes(TrainConfig{}, mixed, {parse_tune_axis("alpha0=0.5,1")}),
                         doctest::Contains("changes the formulas or initial values of `dyt` but "
                                           "not of `layernorm`"),
                         ng::Error);
    CHECK_NOTHROW(check_tune_axes(TrainConfig{}, mixed, {parse_tune_axis("lr=1e-3,2e-3")}));
    CHECK_NOTHROW(check_tune_axes(TrainConfig{}, {parse_variant("dyt"), parse_variant("dyisru")},
                                  {parse_tune_axis("alpha0=0.5,1")}));
    CHECK_THROWS_WITH_AS(
        check_tune_axes(TrainConfig{}, mixed, {parse_tune_axis("max_steps=100,200")}),
        doctest::Contains("not a hyper-parameter to search"), ng::Error);
    // the point is applied after the variant's own settings
    const Variant v = with_point(parse_variant("dyt:lr=0.01,embed_scale"), pts[0]);
    CHECK(apply_variant(TrainConfig{}, v).lr == 1e-3);
    CHECK(apply_variant(TrainConfig{}, v).warmup == 10);
    CHECK(v.spec == "dyt:lr=1e-3,embed_scale,warmup=10");  // names what runs
    CHECK(with_point(parse_variant("layernorm"), pts[3]).spec == "layernorm:lr=2e-3,warmup=50");
  }

  TEST_CASE("report figures: linked from the script's own list, never a path or a missing file") {
    namespace fs = std::filesystem;
    const std::string dir = "figures_list";
    fs::create_directories(dir);
    CHECK(figures_markdown(dir).empty());  // no list: no section
    for (const char* png : {"schedule.png", "loss_curves.png"})
      std::ofstream(dir + "/" + png) << "x";
    std::ofstream(dir + "/figures.json")
        << R"(["schedule", "missing", "../etc/passwd", 3, "loss_curves"])";
    CHECK(figures_markdown(dir, "Intro.\n\n") ==
          "\n## "
          "Figures\n\nIntro.\n\n![schedule](schedule.png)\n\n![loss_curves](loss_curves.png)\n\n");
    std::ofstream(dir + "/figures.json") << "{not json";
    CHECK(figures_markdown(dir).empty());
    // a script that cannot run: the section says so instead of linking stale files
    const FigureSection s = draw_figures("no_such_script.py", dir);
    CHECK_FALSE(s.drawn);
    CHECK(s.markdown.find("Figures skipped") != std::string::npos);
    CHECK_FALSE(fs::exists(dir + "/figures.json"));  // an earlier list never passes for a new one
  }

  TEST_CASE("a staged report: unseen until published, report.md last; retract clears it all") {
    namespace fs = std::filesystem;
    const std::string dir = "staged_report";
    fs::remove_all(dir);
    fs::create_directories(dir + "/runs");
    std::string staging;
    {
      StagedReport staged(dir);
      staging = staged.folder();
      CHECK(staging == dir + "/.report-staging-" + std::to_string(getpid()));
      for (const char* f : {"summary.json", "figures.json", "curves.png", "report.md"})
        std::ofstream(staged.file(f)) << f;
      std::ofstream(staged.file("figures.json.tmp")) << "a writer's leftover";
      for (const char* f : {"summary.json", "figures.json", "curves.png", "report.md"})
        CHECK_FALSE(fs::exists(dir + "/" + f));  // nothing of it in DIR before publish()
      staged.publish();
      for (const char* f : {"summary.json", "figures.json", "curves.png", "report.md"}) {
        CAPTURE(f);
        std::ifstream in(dir + "/" + f);
        std::string text;
        std::getline(in, text);
        CHECK(text == f);
      }
      CHECK_FALSE(fs::exists(dir + "/figures.json.tmp"));
    }
    CHECK_FALSE(fs::exists(staging));  // removed when it goes out of scope
    {
      StagedReport unfinished(dir);  // as if the command stopped before publish()
      std::ofstream(unfinished.file("report.md")) << "half";
    }
    CHECK(fs::exists(dir + "/report.md"));
    CHECK_FALSE(fs::exists(staging));
    // a killed command's staging folder, and the whole earlier report, go when runs start
    fs::create_directories(dir + "/.report-staging-999999");
    std::ofstream(dir + "/figures.json") << R"(["curves", "../outside"])";
    std::ofstream(dir + "/mine.png") << "not the report's";
    std::ofstream("outside.png") << "not in DIR";
    retract_report(dir);
    for (const char* f :
         {"report.md", "summary.json", "figures.json", "curves.png", ".report-staging-999999"}) {
      CAPTURE(f);
      CHECK_FALSE(fs::exists(dir + "/" + f));
    }
    CHECK(fs::exists("outside.png"));      // not a plain figure name: never removed
    CHECK(fs::exists(dir + "/mine.png"));  // not listed: not the report's
    CHECK(fs::exists(dir + "/runs"));
  }

  TEST_CASE("compare --tune: a searched key the spec sets is the search's (names say what ran)") {
    std::vector<Variant> variants = {parse_variant("layernorm:lr=0.008,warmup=10")};
    std::vector<std::string> ran;  // the job pool is replaced: nothing trains here
    const JobRunner fake = [&](std::vector<Job>& jobs) {
      JobsResult r;
      for (const Job& j : jobs) {
        ran.push_back(j.variant + " @ lr " + std::to_string(j.cfg.lr));
        r.codes.push_back(130), r.messages.push_back("not run");
      }
      return r;
    };
    TrainConfig base;
    base.quiet = true;
    const Search s = run_search(base, variants, {parse_tune_axis("lr=1e-3,2e-3")}, 1,
                                "tune_label_test", 3.3, fake);
    REQUIRE(ran.size() == 2);
    // the rows and folders are named without the lr the spec gave (no run used 0.008)
    CHECK(ran[0] == "layernorm:warmup=10 @ lr 0.001000");
    CHECK(ran[1] == "layernorm:warmup=10 @ lr 0.002000");
    REQUIRE(s.results.size() == 1);
    CHECK(s.results[0].spec == "layernorm:warmup=10");
    // the variant the report then runs names the chosen value
    CHECK(variants[0].spec.rfind("layernorm:warmup=10,lr=", 0) == 0);
  }
}
