// A norm kind registered at run time, as the tutorial does, with an option of its own: every
// consumer (report, probes, convert, export, plots, the train config) takes it from the
// registry, with no line of theirs naming it.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_helpers.h"
#include "helpers.h"
#include "normgrad/nn.h"
#include "normgrad/nn/hf_gpt2.h"
#include "normgrad/norms/common.h"
#include "normgrad/report/compare.h"
#include "normgrad/report/convert.h"
#include "normgrad/report/variants.h"
#include "normgrad/train/train.h"

using namespace ng;
using namespace ngt;
using namespace ngcli;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The tutorial's soft-sign cousin of DyT with a learnable gain whose initial value is the
// kind's own option gain0 (settable per position): y = weight * g x / (1 + |g x|) + bias.
struct RtSoftsign : norms::KindDefaults {
  static constexpr const char* kName = "rt_softsign";
  static constexpr const char* kFormula = "y = weight * gain x / (1 + |gain x|) + bias";
  static constexpr const char* kSource = "the tutorial's soft-sign, registered at run time";
  static constexpr const char* kStatsInitDoc = "soft-sign gain = 1/std";
  static constexpr const char* kSaturationDoc = "|gain x|";
  static constexpr int kScalars = 1;
  static constexpr const char* kScalarNames[1] = {"gain"};
  struct Consts {};
  static Consts consts(int64_t, const NormOptions&) { return {}; }
  static std::vector<NormOptionSpec> options() {
    return {{.name = "gain0",
             .init = 1.5,
             .min = 0,
             .min_exclusive = true,
             .help = "soft-sign initial gain",
             .per_position = true}};
  }
  static std::vector<NormScalarSpec> scalar_params(const NormOptions& o) {
    return {{"gain", o.get("gain0")}};
  }
  static std::map<std::string, double> stats_init(double var, int64_t, const NormOptions&) {
    return {{"gain0", 1.0 / std::sqrt(var)}};  // slope at 0 = gain
  }
  static Tensor saturation(const Tensor& x, const std::map<std::string, double>& s,
                           const NormOptions&) {
    return abs(x) * s.at("gain");
  }
  static Tensor composed(const Tensor& x, const Tensor& w, const Tensor& b, const TensorList& s,
                         const Consts&) {
    const Tensor gx = x * s[0].reshape({});
    return norms::affine(gx / (abs(gx) + 1.0), w, b);
  }
};

// Another kind declaring the same option name: refused at registration.
struct RtClash : RtSoftsign {
  static constexpr const char* kName = "rt_clash";
};

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_SUITE("kinds") {
  TEST_CASE("a kind registered at run time reaches report, probes, convert, export, plots") {
    register_norm_kind(describe_norm<RtSoftsign>());
    REQUIRE(find_norm_option("gain0"));
    CHECK(find_norm_option("gain0")->kind == "rt_softsign");
    CHECK(NormOptions{}.get("gain0") == 1.5);

    // the train config: flags' keys, checkpoint JSON, checks, per-position values
    TrainConfig c = tiny_cfg("kinds_unused");
    c.norm = "rt_softsign";
    set_recipe_field(c, "gain0", "0.75", "test");
    set_recipe_field(c, "gain0_final", "0.5", "test");
    CHECK_THROWS_WITH_AS(set_recipe_field(c, "gain0", "-1", "test"),
                         doctest::Contains("gain0 must be > 0, got -1"), Error);
    const TrainConfig back = TrainConfig::from_json(c.to_json());
    CHECK(back.kind_options == c.kind_options);
    CHECK(c.describe().find("gain0=0.75") != std::string::npos);
    const auto flags = c.to_flags();
    CHECK(std::find(flags.begin(), flags.end(), "--gain0-final") != flags.end());
    nn::GPT model(c.gpt(20));
    model.eval();  // no dropout: the exported copy must compute the same
    CHECK(model.blocks()[0]->ln_1->scalars().at("gain") == 0.75);
    CHECK(model.ln_f->scalars().at("gain") == 0.5);

    // the report: source, formula and the option's value from the kind's own metadata
    const std::string described = describe_variant(c);
    CAPTURE(described);
    CHECK(described.find("(the tutorial's soft-sign, registered at run time)") !=
          std::string::npos);
    CHECK(described.find("gain = 0.75") != std::string::npos);
    CHECK(described.find("ln_f (final): `rt_softsign`") != std::string::npos);
    CHECK(described.find("gain = 0.5") != std::string::npos);
    // the plots: the scalar names summary.json carries for the figures
    CHECK(plot_scalars(c) == std::vector<std::string>{"gain"});
    CHECK(scalar_parameters(c) == std::vector<std::string>{"gain"});

    // compare in this process: report.md, summary.json, probes (with saturation), figures
    TrainConfig base = tiny_cfg("kinds_unused");
    base.max_steps = 10, base.eval_interval = 5, base.ckpt_interval = 5, base.dropout = 0;
    base.probe_interval = 5;
    CompareOptions o{.seeds = 1, .dir = "kinds_report", .jobs = 1};
    o.variants = {parse_variant("rt_softsign:gain0=0.8"), parse_variant("layernorm")};
    const CompareResult r = compare(base, o);
    REQUIRE(r.runs.size() == 2);
    const std::string md = read_text(o.dir + "/report.md");
    CHECK(md.find("`rt_softsign` (the tutorial's soft-sign, registered at run time)") !=
          std::string::npos);
    CHECK(md.find("gain = 0.8") != std::string::npos);
    const json summary = json::parse(read_text(o.dir + "/summary.json"));
    CHECK(summary["variants"][0]["scalars"] == json::array({"gain"}));
    CHECK(summary["variants"][0]["scalar_parameters"] == json::array({"gain"}));
    const auto probes = lines(run_dir(o.dir, "rt_softsign:gain0=0.8", base.seed) + "/probes.jsonl");
    REQUIRE(!probes.empty());
    const json last = json::parse(probes.back());
    REQUIRE(!last["norms"].empty());
    CHECK(last["norms"][0]["kind"] == "rt_softsign");
    CHECK(last["norms"][0].contains("gain"));
    CHECK(last["norms"][0]["saturation"].contains("3.0"));  // the kind's own saturation
    if (r.figures) {  // the scalar panel and the saturation map include the new kind
      CHECK(fs::exists(o.dir + "/norm_scalars.png"));
      CHECK(fs::exists(o.dir + "/saturation.png"));
    } else {
      MESSAGE("figures skipped: /usr/bin/python3 with matplotlib not available");
    }

    // convert: the kind's stats init, in a surgery on an RMSNorm checkpoint
    const InputStats s{4.0, 2.25, 100};
    CHECK(stats_init("rt_softsign", "rmsnorm", s, 16, "one").at("gain0") == doctest::Approx(0.5));
    TrainConfig src = tiny_cfg("kinds_surgery_src");
    src.norm = "rmsnorm", src.max_steps = 10, src.dropout = 0;
    train(src);
    ConvertOptions co;
    co.ckpt = src.out + "/ckpt.safetensors";
    co.to = {"rt_softsign"}, co.steps = 2, co.eval_batches = 2, co.stats_batches = 2;
    co.dir = "kinds_surgery", co.quiet = true, co.tensorboard = false, co.figures = false;
    const ConvertResult cr = convert(co);
    REQUIRE(cr.rows.size() == 2);
    const auto& stats_row = cr.rows[1];
    CHECK(stats_row.init == "stats");
    for (const auto& [position, values] : stats_row.scalars) {
      CAPTURE(position);
      const InputStats& in = cr.stats.at(position);
      CHECK(values.at("gain") == doctest::Approx(1.0 / std::sqrt(in.mean_square)));
    }
    CHECK(read_text(co.dir + "/report.md").find("soft-sign gain = 1/std") != std::string::npos);

    // export: config.json carries the option; the model comes back identical
    nn::write_hf_gpt2(model, "kinds_hf");
    const json cfg = json::parse(read_text("kinds_hf/config.json"));
    CHECK(cfg["normgrad"]["norm"] == "rt_softsign");
    CHECK(cfg["normgrad"]["norm_options"]["gain0"] == 0.75);
    const nn::HFGPT2 hf = nn::read_hf_gpt2("kinds_hf");
    CHECK(hf.config.norm_options.get("gain0") == 0.75);
    nn::GPT again(hf.config);
    again.load_state_dict(hf.weights);
    again.eval();
    CHECK(again.ln_f->scalars().at("gain") == 0.5);  // the loaded weights, per position
    const Tensor ids = from_vector(std::vector<double>{1, 2, 3, 4}, {1, 4}, {.dtype = DType::I64});
    CHECK(max(abs(again(ids) - model(ids))).item() == 0.0);
  }

  TEST_CASE("kind metadata: every registered kind names its source; options stay unique") {
    for (const auto& name : norm_kind_names()) {
      CAPTURE(name);
      const NormKind& k = norm_kind(name);
      CHECK(!k.source.empty());
      CHECK(k.describe_init);
      CHECK(!k.describe_init(16, {}).empty() == (k.has_weight || !k.scalar_params({}).empty()));
      if (k.stats_init) CHECK(!k.stats_init_doc.empty());
      if (k.saturation) CHECK(!k.saturation_doc.empty());
    }
    register_norm_kind(describe_norm<RtSoftsign>());  // the same kind again: replaced
    CHECK_THROWS_WITH_AS(register_norm_kind(describe_norm<RtClash>()),
                         doctest::Contains("option 'gain0' is already kind 'rt_softsign''s"),
                         Error);
    CHECK_THROWS_WITH_AS(NormOptions{}.get("no_such_option"),
                         doctest::Contains("unknown norm option 'no_such_option'"), Error);
    CHECK_THROWS_WITH_AS(nn::make_norm("batchnorm", 4),
                         doctest::Contains("unknown norm kind 'batchnorm'; known:"), Error);
  }
}
