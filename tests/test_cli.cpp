// The normgrad command's pieces end to end on a tiny corpus: train, eval, sample, grads,
// resume (bit-exact, metrics without duplicated steps), divergence, bad input.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli_helpers.h"
#include "event_reader.h"
#include "helpers.h"
#include "normgrad/nn.h"
#include "normgrad/report/compare.h"
#include "normgrad/report/convert.h"
#include "normgrad/report/sweep.h"
#include "normgrad/threading.h"
#include "normgrad/train/data.h"
#include "normgrad/train/inspect.h"
#include "normgrad/train/model_graph.h"
#include "normgrad/train/tensorboard.h"
#include "normgrad/train/thread_choice.h"
#include "normgrad/train/train.h"
#ifdef NG_HAS_CUDA
#include "normgrad/cuda.h"
#endif

using namespace ngt;
using namespace ngcli;
namespace fs = std::filesystem;

using json = nlohmann::json;

namespace {
// Two runs' metrics agree line by line on loss, grad norm and val losses (the fields before
// "lr"; times differ).
void check_same_metrics(const std::string& out_a, const std::string& out_b, size_t n) {
  const auto ma = lines(out_a + "/metrics.jsonl"), mb = lines(out_b + "/metrics.jsonl");
  REQUIRE(ma.size() == n);
  REQUIRE(mb.size() == n);
  auto key = [](const std::string& l) { return l.substr(0, l.find(",\"lr\"")); };
  for (size_t i = 0; i < n; ++i) CHECK(key(ma[i]) == key(mb[i]));
}
// Trains `a` through, `b` to stop_at and then resumed; both must end identical: the same
// 12 metrics lines and bit-equal checkpoints. Returns a's checkpoint tensors.
nn::StateDict resumed_equals_uninterrupted(const TrainConfig& a, TrainConfig b, int64_t stop_at) {
  train(a);
  b.stop_at = stop_at;
  train(b);
  b.stop_at = 0;
  b.resume = true;
  train(b);
  check_same_metrics(a.out, b.out, 12);
  auto pa = nn::load_safetensors(a.out + "/ckpt.safetensors").tensors;
  auto pb = nn::load_safetensors(b.out + "/ckpt.safetensors").tensors;
  for (auto& [k, v] : pa) CHECK(v.to_vector() == pb.at(k).to_vector());
  return pa;
}
}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("tokenizer: code points, round trip through the vocabulary string") {
    CharTokenizer t = CharTokenizer::from_text(
        "ba\xc3\xa9"
        "ab");
    CHECK(t.size() == 3);
    CHECK(t.decode(t.encode("ab\xc3\xa9")) == "ab\xc3\xa9");
    CharTokenizer u = CharTokenizer::from_vocab_string(t.vocab_string());
    CHECK(u.encode("\xc3\xa9"
                   "a") == t.encode("\xc3\xa9"
                                    "a"));
    CHECK_THROWS_WITH_AS(t.encode("z"), doctest::Contains("is not in the 3-character vocabulary"),
                         Error);
    CHECK_THROWS_WITH_AS(utf8_decode("\xff", "x"), doctest::Contains("invalid UTF-8"), Error);
  }

  TEST_CASE("train, eval, sample, grads") {
    TrainConfig c = tiny_cfg("cli_test_run");
    fs::remove_all(c.out);
    TrainResult r = train(c);
    CHECK(r.steps == 12);
    CHECK(std::isfinite(r.final_val_loss));
    CHECK(fs::exists(c.out + "/ckpt.safetensors"));
    {  // the reproducibility manifest: what wrote the checkpoint
      const auto meta = nn::load_safetensors(c.out + "/ckpt.safetensors").metadata;
      for (const char* k : {"normgrad_version", "git_commit", "build_type", "blas", "blas_core",
                            "cpu", "threads", "device", "command_line"}) {
        CAPTURE(k);
        REQUIRE(meta.count(k) == 1);
        CHECK(!meta.at(k).empty());
      }
      CHECK(meta.at("device") == "cpu");
      CHECK(meta.at("command_line") == "(library call)");
      CHECK(std::stoi(meta.at("threads")) >= 1);
    }
    auto m = lines(c.out + "/metrics.jsonl");
    CHECK(m.size() == 12);
    CHECK(m[4].find("\"val_loss\"") != std::string::npos);
    const double loss = eval_command(c.out + "/ckpt.safetensors", c.data, 0);
    CHECK(std::isfinite(loss));
    const SampleOptions so{
        .prompt = "the ", .tokens = 20, .temperature = 0.8, .top_k = 5, .seed = 1};
    const std::string s1 = sample_command(c.out + "/ckpt.safetensors", so)[0].text;
    const std::string s2 = sample_command(c.out + "/ckpt.safetensors", so)[0].text;
    CHECK(s1 == s2);  // seeded
    CHECK(s1.rfind("the ", 0) == 0);
    grads_command(c.out + "/ckpt.safetensors",
                  {.data = c.data, .batch = 3, .seed = 5, .out = c.out + "/grads.safetensors"});
    auto g = nn::load_safetensors(c.out + "/grads.safetensors");
    CHECK(g.tensors.count("loss") == 1);
    CHECK(g.tensors.count("grad.transformer.h.1.ln_2.weight") == 1);
    fs::remove_all(c.out);
  }

  TEST_CASE("sample: KV cache, --top-p, --num-samples, --stop") {
    TrainConfig c = tiny_cfg("cli_test_sample");  // block_size 16
    train(c);
    const std::string ckpt = c.out + "/ckpt.safetensors";
    const SampleOptions base{.prompt = "the ", .tokens = 40, .temperature = 0.9, .seed = 3};
    const auto one = [&](SampleOptions o) { return sample_command(ckpt, o).at(0); };
    // The cache: the same text as recomputing every context; 12 tokens (the prompt's 4 up to
    // block_size 16) took one row each, the first and the 27 past block_size a whole pass.
    SampleOptions no_cache = base;
    no_cache.kv_cache = false;
    const Sample cached = one(base), recomputed = one(no_cache);
    CHECK(cached.text == recomputed.text);
    CHECK(cached.tokens == 40);
    CHECK(cached.from_cache == 12);
    CHECK(recomputed.from_cache == 0);
    // top-p: 1 is no cut; a tiny p keeps only the most likely token, as --top-k 1 does.
    SampleOptions p1 = base, tiny_p = base, k1 = base;
    p1.top_p = 1.0, tiny_p.top_p = 1e-9, k1.top_k = 1;
    CHECK(one(p1).text == cached.text);
    CHECK(one(tiny_p).text == one(k1).text);
    SampleOptions mid_p = base;
    mid_p.top_p = 0.5;
    CHECK(one(mid_p).text != cached.text);
    // --num-samples: sample i is the single sample of seed + i.
    SampleOptions three = base;
    three.num_samples = 3;
    const std::vector<Sample> all = sample_command(ckpt, three);
    REQUIRE(all.size() == 3);
    for (int i = 0; i < 3; ++i) {
      SampleOptions single = base;
      single.seed = base.seed + (uint64_t)i;
      CHECK(all[(size_t)i].text == one(single).text);
    }
    CHECK(all[0].text != all[1].text);
    // --stop: two characters the free text generates; the stopped text is the free text up to
    // their first occurrence after the prompt, and ends there.
    size_t at = 14;  // two ASCII characters (one token each) past the prompt
    while (at + 2 < cached.text.size() && ((cached.text[at] | cached.text[at + 1]) & 0x80)) ++at;
    const std::string stop = cached.text.substr(at, 2);
    const auto stopped_at = [&](const std::string& text) {
      const size_t first = cached.text.find(text, 4);
      return first == std::string::npos ? cached.text : cached.text.substr(0, first + text.size());
    };
    SampleOptions stopping = base;
    stopping.stop = stop;
    const Sample stopped = one(stopping);
    CHECK(stopped.stopped);
    CHECK(stopped.text == stopped_at(stop));
    CHECK(stopped.tokens < 40);
    SampleOptions never = base;
    never.stop = "\xc3\xa9\xc3\xa9\xc3\xa9 never";
    CHECK(!one(never).stopped);
    CHECK(one(never).text == cached.text);
    // The stop counts in the generated text only: the prompt's own "the" stops nothing.
    SampleOptions in_prompt = base;
    in_prompt.stop = "the";
    CHECK(one(in_prompt).text == stopped_at("the"));
    // The command: samples each followed by nanoGPT's line of dashes, the same text without
    // the cache, and the cache's use on stderr.
    const auto run = [&](const std::string& args) {
      const std::string cmd = std::string(NG_CLI_BINARY) + " sample --ckpt " + ckpt +
                              " --prompt 'the ' --tokens 40 --seed 3 --num-samples 2 " + args +
                              " > cli_sample.txt 2> cli_sample_err.txt";
      REQUIRE(std::system(cmd.c_str()) == 0);
      std::ifstream f("cli_sample.txt"), e("cli_sample_err.txt");
      return std::make_pair(
          std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>()),
          std::string((std::istreambuf_iterator<char>(e)), std::istreambuf_iterator<char>()));
    };
    const auto [out, err] = run("");
    const auto [out_nc, err_nc] = run("--no-kv-cache");
    CHECK(out == out_nc);
    SampleOptions two = base;
    two.temperature = 1.0, two.num_samples = 2;
    const std::vector<Sample> lib = sample_command(ckpt, two);
    CHECK(out == lib[0].text + "\n---------------\n" + lib[1].text + "\n---------------\n");
    CHECK(err.find("80 tokens in") != std::string::npos);
    CHECK(err.find("KV cache: 24 tokens took one row each") != std::string::npos);
    CHECK(err_nc.find("no KV cache") != std::string::npos);
    fs::remove_all(c.out);
  }

  TEST_CASE("sampling weights: temperature, then top-k, then top-p") {
    const std::vector<double> logits = {std::log(0.5), std::log(0.3), std::log(0.15),
                                        std::log(0.05)};
    const auto probs = [&](double temperature, int64_t top_k, double top_p) {
      std::vector<double> w = sampling_weights(logits, temperature, top_k, top_p);
      double total = 0;
      for (double v : w) total += v;
      for (double& v : w) v /= total;
      return w;
    };
    const auto near = [](const std::vector<double>& a, const std::vector<double>& b) {
      for (size_t i = 0; i < a.size(); ++i)
        if (std::abs(a[i] - b[i]) > 1e-12) return false;
      return a.size() == b.size();
    };
    CHECK(near(probs(1, 0, 1), {0.5, 0.3, 0.15, 0.05}));
    CHECK(near(probs(1, 0, 0.7), {0.625, 0.375, 0, 0}));  // 0.5 + 0.3 reaches 0.7
    CHECK(near(probs(1, 0, 0.85), {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}));
    CHECK(near(probs(1, 0, 1e-9), {1, 0, 0, 0}));
    CHECK(near(probs(1, 2, 0.5), {1, 0, 0, 0}));  // top-k first: 0.625 alone reaches 0.5
    CHECK(near(probs(1, 3, 0.9), {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}));
    // Temperature first: at 2 the two largest hold 0.673 < 0.7, so a third is kept.
    const std::vector<double> hot = probs(2, 0, 0.7);
    CHECK(hot[2] > 0);
    CHECK(hot[3] == 0);
    CHECK(unescape_stop("a\\nb\\t\\\\") == "a\nb\t\\");
    CHECK_THROWS_WITH_AS(unescape_stop("x\\q"), doctest::Contains("unknown escape at character 2"),
                         Error);
    CHECK_THROWS_WITH_AS(unescape_stop("x\\"), doctest::Contains("unknown escape"), Error);
  }

  TEST_CASE("--threads 0: the thread search, every count in interleaved rounds, the fastest kept") {
    // time = work / n + overhead x n: fastest at 8 of 16 threads
    const auto time_at = [](int n) { return 1.0 / n + 0.02 * n; };
    ThreadChoice c(16, 3);
    CHECK(c.candidates() == std::vector<int>{16, 8, 4, 2, 1});
    CHECK(c.measurements() == 16);
    CHECK(c.next() == 16);
    CHECK_FALSE(c.record(9.0));  // the warm-up: untimed, however slow
    std::vector<int> order;
    while (!c.done()) {
      const int n = c.next();
      order.push_back(n);
      // a slow phase in the first round: the fastest of each count's three measurements counts
      const bool slow_phase = order.size() <= 5;
      const bool ended = c.record(time_at(n) * (slow_phase ? 2.0 : 1.0));
      CHECK(ended == c.done());
      REQUIRE(order.size() < 30);
    }
    CHECK(order == std::vector<int>{16, 8, 4, 2, 1, 1, 2, 4, 8, 16, 16, 8, 4, 2, 1});
    CHECK(c.next() == 8);
    CHECK(c.summary() ==
          "8 of 16 (fastest of 3, ms: 16: 382.50, 8: 285.00, 4: 330.00, 2: 540.00, 1: 1020.00)");
    CHECK_FALSE(c.record(1.0));  // done: nothing changes it
    CHECK(c.next() == 8);
    CHECK(ThreadChoice(6).candidates() == std::vector<int>{6, 4, 2, 1});
    CHECK(ThreadChoice(1).done());
    CHECK(ThreadChoice(1).next() == 1);
    ThreadChoice down(4);  // faster all the way down: the fewest
    for (int i = 0; i < 40 && !down.done(); ++i) down.record(0.1 * down.next());
    CHECK(down.next() == 1);
    // a tie (within 5%) goes to the larger count: 2 threads measured 4% slower than 1 is a
    // core the VM took away for a moment, not a reason to keep one thread
    ThreadChoice tie(2);
    for (int i = 0; i < 40 && !tie.done(); ++i) tie.record(tie.next() == 2 ? 1.04 : 1.0);
    CHECK(tie.next() == 2);
    ThreadChoice clear(2);
    for (int i = 0; i < 40 && !clear.done(); ++i) clear.record(clear.next() == 2 ? 1.06 : 1.0);
    CHECK(clear.next() == 1);
  }

  TEST_CASE("--threads 0: measured once per machine and model shape, kept for reruns and resume") {
    const std::string cache = thread_cache_path();
    REQUIRE(cache.find("/cache/threads.json") != std::string::npos);  // test_main's own folder
    std::filesystem::remove(cache);
    TrainConfig c = tiny_cfg("cli_test_threads");
    c.n_embd = 64, c.block_size = 32, c.batch = 8, c.max_steps = 6;
    const int cores = ng::available_cores();
    // a stand-in timer: fastest at one thread
    int calls = 0;
    const ThreadPick measured = pick_threads(c, 113, 0, [&] {
      ++calls;
      return 0.001 * ng::num_threads();
    });
    CHECK(measured.threads == 1);
    CHECK(calls == (cores == 1 ? 0 : ThreadChoice(cores).measurements()));
    if (cores > 1) {
      CHECK(measured.how.find("measured on this model's matrix products; kept in " + cache) !=
            std::string::npos);
      // the next run of this shape takes the kept count without timing anything
      const ThreadPick again = pick_threads(c, 113);
      CHECK(again.threads == 1);
      CHECK(again.how.find("measured earlier for this model shape on this machine") !=
            std::string::npos);
      const json j = json::parse(std::ifstream(cache));
      REQUIRE(j.size() == 1);
      CHECK(j.begin().key().find("tokens 256, n_embd 64, vocab 113 | fp32") != std::string::npos);
      CHECK(j.begin().value()["threads"] == 1);
    }
    CHECK(pick_threads(c, 113, 2).how.find("as the run being resumed") != std::string::npos);
    // a corrupt cache is measured again and rewritten, not trusted
    std::ofstream(cache) << "{\"oops\": ";
    const ThreadPick remeasured = pick_threads(c, 113, 0, [] { return 0.001; });
    if (cores > 1)
      CHECK(remeasured.how.find("measured on this model's matrix products") != std::string::npos);
    CHECK(json::parse(std::ifstream(cache)).is_object());

    // the real thing (a shape this process has not measured): the first run measures and
    // keeps the count, the second takes it (same numbers), the checkpoint records it for
    // --resume, and the caller's thread count comes back after each run
    std::filesystem::remove(cache);
    c.batch = 4;  // 128 tokens a step
    const int caller = ng::num_threads();
    std::vector<std::vector<double>> losses;
    for (int k = 0; k < 2; ++k) {
      c.out = "cli_test_threads_" + std::to_string(k);
      train(c);
      CHECK(ng::num_threads() == caller);
      std::vector<double> l;
      for (const auto& line : lines(c.out + "/metrics.jsonl"))
        l.push_back(json::parse(line)["loss"]);
      losses.push_back(l);
    }
    CHECK(losses[0] == losses[1]);
    const int used =
        std::stoi(ng::nn::load_safetensors(c.out + "/ckpt.safetensors").metadata.at("threads"));
    CHECK(used >= 1);
    CHECK(used <= cores);
    if (cores > 1) {
      const json kept = json::parse(std::ifstream(cache));
      REQUIRE(kept.size() == 1);
      CHECK(kept.begin().key().find("tokens 128, n_embd 64, vocab ") != std::string::npos);
      CHECK(kept.begin().value()["threads"] == used);
    }
  }

  TEST_CASE("resume continues bit for bit and rewrites metrics without duplicates") {
    TrainConfig a = tiny_cfg("cli_test_full"), b = tiny_cfg("cli_test_resumed");
    fs::remove_all(a.out);
    fs::remove_all(b.out);
    resumed_equals_uninterrupted(a, b, 10);  // as if interrupted at step 10, then resumed
    fs::remove_all(a.out);
    fs::remove_all(b.out);
  }

  TEST_CASE("the GPU's readout path (loss and grad norm read back in groups) equals the CPU's") {
    // NG_DEFER_READOUT=1 takes the path a GPU run takes (the norm and the clipping scale
    // computed as tensors, read back every log_interval steps) on the CPU: every metrics
    // line, the checkpoint and a divergence's message must be the per-step path's.
    struct DeferScope {
      DeferScope() { setenv("NG_DEFER_READOUT", "1", 1); }
      ~DeferScope() { unsetenv("NG_DEFER_READOUT"); }
    };
    TrainConfig a = tiny_cfg("cli_test_step_readout"), b = tiny_cfg("cli_test_group_readout");
    a.log_interval = b.log_interval = 4;  // readouts at 4, 5 (eval), 8, 10, 12
    fs::remove_all(a.out);
    fs::remove_all(b.out);
    const TrainResult ra = train(a);
    TrainResult rb;
    {
      DeferScope defer;
      rb = train(b);
    }
    CHECK(rb.steps == ra.steps);
    CHECK(rb.final_val_loss == ra.final_val_loss);
    const auto ma = lines(a.out + "/metrics.jsonl"), mb = lines(b.out + "/metrics.jsonl");
    REQUIRE(ma.size() == 12);
    REQUIRE(mb.size() == 12);
    for (size_t i = 0; i < ma.size(); ++i) {
      const json ja = json::parse(ma[i]), jb = json::parse(mb[i]);
      CAPTURE(ma[i]);
      CAPTURE(mb[i]);
      for (const char* k : {"step", "loss", "lr", "val_loss", "train_loss_eval"})
        CHECK(ja.value(k, -1.0) == jb.value(k, -1.0));
      // the norm is summed in another order (a tensor sum, not the 8-chain host loop)
      CHECK(jb["grad_norm"].get<double>() ==
            doctest::Approx(ja["grad_norm"].get<double>()).epsilon(1e-12));
      CHECK(jb["tokens_per_s"].get<double>() > 0);
    }
    auto pa = nn::load_safetensors(a.out + "/ckpt.safetensors").tensors;
    auto pb = nn::load_safetensors(b.out + "/ckpt.safetensors").tensors;
    for (auto& [k, v] : pa) CHECK(v.to_vector() == pb.at(k).to_vector());
    // A divergence between two readouts is named with its own step.
    for (TrainConfig* c : {&a, &b}) {
      fs::remove_all(c->out);
      c->lr = 1e12, c->min_lr = 1e12, c->warmup = 0, c->log_interval = 100;
    }
    const TrainResult da = train(a);
    TrainResult db;
    {
      DeferScope defer;
      db = train(b);
    }
    REQUIRE(da.diverged);
    REQUIRE(db.diverged);
    CAPTURE(da.message);
    CAPTURE(db.message);
    CHECK(db.steps == da.steps);
    const std::string head = da.message.substr(0, da.message.find(" in the forward pass"));
    CHECK(db.message.rfind(head, 0) == 0);
    CHECK(db.message.find("(read back after step") != std::string::npos);
    fs::remove_all(a.out);
    fs::remove_all(b.out);
  }

  TEST_CASE("--grad-accum 2 x batch 4 equals batch 8 to float tolerance, also deferred") {
    // A batch of B draws B offsets one after another, so two micro-batches of 4 are the 8
    // sequences of one batch of 8, and each micro-batch's loss is scaled by 1/2 (exactly):
    // the runs differ only in the order in which float32 gradients are summed (two partial
    // sums added, not one sum over 8 x 16 rows). Dropout is off: its masks are drawn per
    // layer and forward pass, so they would differ by construction, not by rounding.
    TrainConfig a = tiny_cfg("cli_test_batch8"), b = tiny_cfg("cli_test_accum2");
    a.dropout = b.dropout = 0;
    a.batch = 8;
    b.batch = 4, b.grad_accum = 2;
    TrainConfig d = b;  // the GPU's deferred-readout path, on the CPU
    d.out = "cli_test_accum2_deferred";
    for (auto* c : {&a, &b, &d}) fs::remove_all(c->out);
    const TrainResult ra = train(a), rb = train(b);
    {
      setenv("NG_DEFER_READOUT", "1", 1);
      train(d);
      unsetenv("NG_DEFER_READOUT");
    }
    REQUIRE(rb.steps == ra.steps);
    const auto ma = lines(a.out + "/metrics.jsonl"), mb = lines(b.out + "/metrics.jsonl"),
               md = lines(d.out + "/metrics.jsonl");
    REQUIRE(ma.size() == 12);
    REQUIRE(mb.size() == 12);
    REQUIRE(md.size() == 12);
    double worst = 0;
    for (size_t i = 0; i < ma.size(); ++i) {
      const json ja = json::parse(ma[i]), jb = json::parse(mb[i]), jd = json::parse(md[i]);
      // not val_loss: the curve's evaluation draws eval_iters batches of --batch sequences
      // (8 vs 4 here: other text); val_loss_full scores the same windows in both runs
      for (const char* k : {"loss", "grad_norm", "val_loss_full"})
        if (ja.contains(k)) {
          worst = std::max(worst, std::fabs(ja[k].get<double>() - jb[k].get<double>()) /
                                      std::fabs(ja[k].get<double>()));
          // the deferred path sums the same micro-batches in the same order
          CHECK(jd[k].get<double>() == doctest::Approx(jb[k].get<double>()).epsilon(1e-12));
        }
    }
    MESSAGE("batch 8 vs 4 x grad_accum 2 over 12 steps: worst relative difference ", worst);
    CHECK(worst < 1e-6);  // float32 rounding (~6e-8 measured), not a different computation
    const auto pa = nn::load_safetensors(a.out + "/ckpt.safetensors").tensors;
    const auto cb = nn::load_safetensors(b.out + "/ckpt.safetensors");
    CHECK(TrainConfig::from_json(cb.metadata.at("config")).grad_accum == 2);
    for (const auto& [name, t] : pa) {  // weights and AdamW moments
      CAPTURE(name);
      const Tensor u = cb.tensors.at(name);
      if (name.find("c_attn.bias") != std::string::npos) {
        // The key third of c_attn.bias has an exactly zero gradient (a shift of every score
        // of a query leaves the softmax unchanged): what it gets is rounding noise, which
        // AdamW scales to ~lr whatever its size, in a direction set by the summation order.
        const int64_t C = t.size(0) / 3;
        for (int64_t part : {0, 2})
          CHECK(allclose(u.narrow(0, part * C, C), t.narrow(0, part * C, C), 1e-4, 1e-6));
        continue;
      }
      CHECK(allclose(u, t, 1e-4, 1e-6));
    }
    // tokens/s counts every micro-batch: 4 x 2 x 16 tokens per step, as the batch-8 run
    const json last = json::parse(mb.back());
    CHECK(last["tokens_per_s"].get<double>() ==
          doctest::Approx(12.0 * 8 * 16 / last["train_s"].get<double>()).epsilon(1e-9));
    for (auto* c : {&a, &b, &d}) fs::remove_all(c->out);
  }

  TEST_CASE("--val-data: all of --data trains and that file is the validation split") {
    const auto write = [](const std::string& path, const std::string& text) {
      std::ofstream(path) << text;
      return path;
    };
    // One repeated character of the corpus: nothing like the default split's text.
    const std::string val = write("cli_test_val.txt", std::string(400, 'o'));
    TrainConfig a = tiny_cfg("cli_test_split"), b = tiny_cfg("cli_test_val_data");
    b.val_data = val;
    for (auto* c : {&a, &b}) fs::remove_all(c->out);
    const TrainResult ra = train(a), rb = train(b);
    REQUIRE(std::isfinite(ra.final_val_loss));
    REQUIRE(std::isfinite(rb.final_val_loss));
    CHECK(std::fabs(ra.final_val_loss - rb.final_val_loss) > 0.1);
    const json last = json::parse(lines(b.out + "/metrics.jsonl").back());
    CHECK(last["val_windows"].get<int64_t>() == (400 - 1) / 16);  // every window of the file
    // saved (absolute) with its fingerprint; eval without --data scores the same file
    const auto ck = nn::load_safetensors(b.out + "/ckpt.safetensors");
    CHECK(TrainConfig::from_json(ck.metadata.at("config")).val_data ==
          fs::absolute(val).lexically_normal().string());
    CHECK(ck.metadata.count("val_data_fingerprint") == 1);
    CHECK(eval_command(b.out + "/ckpt.safetensors", "", 0) ==
          doctest::Approx(rb.final_val_loss).epsilon(1e-5));
    // --resume checks the file as it checks --data, and refuses one the run never had
    TrainConfig other = b;
    other.resume = true;
    other.val_data = write("cli_test_val2.txt", std::string(400, 'x'));
    other.given = {"val_data"};
    CHECK_THROWS_WITH_AS(train(other), doctest::Contains("pass --val-data with the original file"),
                         Error);
    TrainConfig added = a;
    added.resume = true;
    added.val_data = val;
    added.given = {"val_data"};
    CHECK_THROWS_WITH_AS(train(added),
                         doctest::Contains("conflicts with the saved run's validation"), Error);
    for (auto* c : {&a, &b}) fs::remove_all(c->out);
  }

  TEST_CASE("ms/iter and MFU: in every metrics line and on the progress line") {
    const std::string out = "cli_test_mfu";
    fs::remove_all(out);
    const std::string cmd = std::string(NG_CLI_BINARY) + " train --data " + corpus_file() +
                            " --out " + out +
                            " --n-layer 2 --n-head 2 --n-embd 32 --block-size 16 --batch 4"
                            " --max-steps 6 --eval-interval 3 --eval-iters 1 --log-interval 2"
                            " --tensorboard false > cli_mfu.txt 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    const auto m = lines(out + "/metrics.jsonl");
    REQUIRE(m.size() == 6);
    for (const auto& l : m) {
      CAPTURE(l);
      const json j = json::parse(l);
      const double ms = j.at("ms_per_iter").get<double>(), mfu = j.at("mfu").get<double>();
      CHECK((std::isfinite(ms) && ms > 0));
      // Not < 1: under ctest -j the peak may be timed while another test loads the cores and
      // the steps later run alone; the bound catches a unit or formula error (x6, x1000).
      CHECK((std::isfinite(mfu) && mfu > 0 && mfu < 1.5));
      // the same training steps as tokens/s: ms per step = tokens per step / tokens per s
      CHECK(ms == doctest::Approx(1000.0 * 4 * 16 / j["tokens_per_s"].get<double>()));
    }
    bool shown = false;
    for (const auto& l : lines("cli_mfu.txt"))
      shown |= l.find(" ms/iter | MFU ") != std::string::npos && l.find("%") != std::string::npos;
    CHECK(shown);
    // the manifest of a checkpoint the command wrote: its command line and the build's commit
    const auto meta = nn::load_safetensors(out + "/ckpt.safetensors").metadata;
    CHECK(meta.at("command_line").find(" train --data cli_test_corpus.txt --out") !=
          std::string::npos);
    CHECK((meta.at("git_commit").size() == 40 || meta.at("git_commit") == "unknown"));
    fs::remove_all(out);
  }

  TEST_CASE("resume needs only --out: corpus, probes and settings come from the checkpoint") {
    // Regression: --resume fell back to the built-in corpus without --data, the data path was
    // stored relative to the starting directory, and probe_interval was not saved.
    TrainConfig a = tiny_cfg("cli_test_full2"), b = tiny_cfg("cli_test_part");
    a.probe_interval = b.probe_interval = 4;
    train(a);
    b.stop_at = 6;
    train(b);
    const fs::path home = fs::current_path();
    fs::create_directories("elsewhere");
    fs::current_path("elsewhere");  // resume from another directory, as a user might
    TrainConfig cli;                // what `normgrad train --out ... --resume` parses to
    cli.out = (home / b.out).string();
    cli.resume = cli.quiet = true;
    cli.given = {"out", "resume", "quiet"};
    TrainResult r = train(cli);
    fs::current_path(home);
    CHECK(r.steps == 12);
    check_same_metrics(a.out, b.out, 12);
    auto pb = lines(b.out + "/probes.jsonl");
    REQUIRE(pb.size() == 3);  // steps 4, 8 (after the resume) and 12
    CHECK(json::parse(pb[2])["step"] == 12);
  }

  TEST_CASE("TaperNorm's schedule and EMA state resume bit for bit across the calibration") {
    TrainConfig a = tiny_cfg("cli_test_taper_full"), b = tiny_cfg("cli_test_taper_part");
    for (TrainConfig* c : {&a, &b}) {
      c->norm = "tapernorm";
      c->norm_final = "rmsnorm";
      c->taper_start = 4, c->taper_steps = 4;  // calibrate at step 4, gate 0 from step 8
      c->probe_interval = 2;
    }
    // stop at 3: the EMAs are mid-way and must travel in the checkpoint
    const auto pa = resumed_equals_uninterrupted(a, b, 3);
    CHECK(pa.at("transformer.h.0.ln_1.gate").item() == 0.0);
    // the probes record the gate and c of every TaperNorm layer
    const json last = json::parse(lines(b.out + "/probes.jsonl").back());
    CHECK(last.dump().find("\"gate\"") != std::string::npos);
  }

  TEST_CASE(
      "resume: a flag that changes the run is an error; place and bookkeeping flags are not") {
    TrainConfig b = tiny_cfg("cli_test_conflict");
    b.stop_at = 3;
    train(b);
    TrainConfig cli;
    cli.out = b.out;
    cli.resume = cli.quiet = true;
    cli.lr = 0.5;
    cli.given = {"out", "resume", "quiet", "lr"};
    CHECK_THROWS_WITH_AS(train(cli),
                         doctest::Contains("--lr 0.5 conflicts with the saved run's 0.001"), Error);
    cli.given = {"out", "resume", "quiet", "log_interval"};  // bookkeeping: allowed
    cli.log_interval = 1;
    CHECK(train(cli).steps == 12);
    TrainConfig other = tiny_cfg("unused");  // a different corpus than the run's
    std::ofstream("other.txt") << "a completely different text, long enough to train on. " << 1;
    cli.data = "other.txt";
    cli.given = {"out", "resume", "quiet", "data"};
    CHECK_THROWS_WITH_AS(train(cli), doctest::Contains("is not the text this run was trained on"),
                         Error);
  }

  TEST_CASE("grads reproduces the gradient of a training step exactly") {
    // Regression: grads drew its batch from another generator (seed vs seed + 1).
    TrainConfig a = tiny_cfg("cli_test_gfull"), b = tiny_cfg("cli_test_gpart");
    train(a);
    b.stop_at = 7;
    train(b);
    const double loss8 = json::parse(lines(a.out + "/metrics.jsonl")[7])["loss"];
    const std::string ck = b.out + "/ckpt.safetensors";
    grads_command(ck, {.out = "g_next.safetensors"});  // default: the next step, 8
    const auto next = nn::load_safetensors("g_next.safetensors");
    CHECK(next.tensors.at("loss").item() == doctest::Approx(loss8).epsilon(1e-6));
    CHECK(next.metadata.at("batch_source").find("step 8 (the next step)") != std::string::npos);
    // --step 8 replays the same batch (equal losses need no dropout: b has 0.1, so compare ids)
    grads_command(ck, {.step = 8, .out = "g_step.safetensors"});
    const auto step = nn::load_safetensors("g_step.safetensors");
    CHECK(step.tensors.at("input_ids").to_vector() == next.tensors.at("input_ids").to_vector());
    grads_command(ck, {.step = 3, .out = "g_old.safetensors"});
    CHECK(nn::load_safetensors("g_old.safetensors")
              .metadata.at("batch_source")
              .find("not the gradient training computed") != std::string::npos);
  }

  TEST_CASE("config: one field list gives JSON round trip, type errors and value checks") {
    TrainConfig c = tiny_cfg("x");
    c.beta0 = 3.5;
    c.kind_options["lambda0_final"] = 4.0;  // a kind-declared option (bhyt's), one position
    c.probe_interval = 7;
    TrainConfig d = TrainConfig::from_json(c.to_json());
    CHECK(d.to_json() == c.to_json());
    CHECK(d.describe().find("lambda0_final=4") != std::string::npos);
    CHECK(d.describe().find("probe_interval=7") != std::string::npos);
    CHECK_THROWS_WITH_AS(TrainConfig::from_json(R"({"n_layer":"2"})"),
                         doctest::Contains("field 'n_layer' must be an integer, got \"2\""), Error);
    CHECK_THROWS_WITH_AS(TrainConfig::from_json(R"({"lr":null})"),
                         doctest::Contains("field 'lr' must be a number"), Error);
    CHECK_THROWS_WITH_AS(TrainConfig::from_json(R"({"bogus":1})"),
                         doctest::Contains("unknown field 'bogus'"), Error);
    TrainConfig bad = TrainConfig::from_json(R"({"ckpt_interval":0})");
    CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("ckpt_interval must be > 0, got 0"),
                         Error);
    nn::GPTConfig g = d.gpt(11);
    CHECK(g.norm_options.beta0 == 3.5);
    CHECK(g.final_options.at("lambda0") == 4.0);
    CHECK(g.n_layer == c.n_layer);
  }

  TEST_CASE(
      "train --precision tf32: accepted, emulated on the CPU, close to fp32; others refused") {
    CHECK_THROWS_WITH_AS(TrainConfig::from_json(R"({"precision":"fp16"})").validate(),
                         doctest::Contains("must be fp32, tf32 or bf16, got 'fp16'"), Error);
    TrainConfig c = tiny_cfg("cli_test_tf32");
    fs::remove_all(c.out);
    const TrainResult fp32 = train(c);
    fs::remove_all(c.out);
    c.precision = "tf32";
    c.validate();
    const TrainResult tf32 = train(c);
    CHECK(matmul_precision() == MatmulPrecision::F32);  // the run's scope ended with it
    CHECK(tf32.steps == fp32.steps);
    CHECK(std::isfinite(tf32.final_val_loss));
    INFO("val loss fp32 " << fp32.final_val_loss << ", tf32 " << tf32.final_val_loss);
    CHECK(tf32.final_val_loss != fp32.final_val_loss);  // the operands were rounded
    CHECK(std::abs(tf32.final_val_loss - fp32.final_val_loss) < 0.02);
    CHECK(TrainConfig::from_json(c.to_json()).precision == "tf32");
    fs::remove_all(c.out);
  }

  TEST_CASE("probes: schema, and the run's numbers are the same with and without them") {
    TrainConfig a = tiny_cfg("cli_test_noprobe"), b = tiny_cfg("cli_test_probe");
    a.norm = b.norm = "dyt";
    b.probe_interval = 4;
    fs::remove_all(a.out);
    fs::remove_all(b.out);
    train(a);
    train(b);
    check_same_metrics(a.out, b.out, 12);
    auto p = lines(b.out + "/probes.jsonl");
    REQUIRE(p.size() == 3);  // steps 4, 8, 12
    auto j = nlohmann::json::parse(p[0]);
    CHECK(j["step"] == 4);
    CHECK(j["residual_grad"].size() == 2);
    CHECK(j["residual_grad"][0].get<double>() > 0);
    CHECK(j["params"][0]["name"] == "transformer.wte.weight");
    CHECK(j["params"][0]["update_ratio"].get<double>() > 0);
    auto& n0 = j["norms"][0];
    CHECK(n0["name"] == "transformer.h.0.ln_1");
    CHECK(n0["kind"] == "dyt");
    for (const char* k : {"mean", "std", "inv_std", "max_abs", "alpha"}) CHECK(n0.contains(k));
    CHECK(n0["saturation"].contains("2.0"));
    CHECK(n0["scatter_x"].size() == n0["scatter_y"].size());
    CHECK(n0["jacobian_sigma_max"].size() == 4);
    CHECK(n0["jacobian_sigma_max"][0].get<double>() > 0);
    fs::remove_all(a.out);
    fs::remove_all(b.out);
  }

  TEST_CASE("Jacobian spectrum: power iteration matches known cases") {
    // DyT at x = 0: J = alpha I (times weight 1), so sigma_max = alpha.
    auto dyt = nn::make_norm("dyt", 8, {.alpha0 = 0.7});
    Generator g(1);
    CHECK(nn::jacobian_top_singular_value(*dyt, zeros({8}), 30, g) ==
          doctest::Approx(0.7).epsilon(1e-4));
    // RMSNorm: J = (sqrt(C)/|x|)(I - y y^T / C) has top singular value sqrt(C)/|x| (eps aside).
    auto rms = nn::make_norm("rmsnorm", 8, {.eps = 1e-12});
    Tensor x = randn({8}, {}, &g);
    CHECK(nn::jacobian_top_singular_value(*rms, x, 50, g) ==
          doctest::Approx(std::sqrt(8.0) / x.norm().item()).epsilon(1e-3));
  }

  TEST_CASE("variant specs: kind, keys and values checked, one-line errors naming the bad part") {
    const Variant v = parse_variant("dyt:alpha0=1,scale=sqrtc,embed_scale");
    CHECK(v.kind == "dyt");
    const TrainConfig c = apply_variant(TrainConfig{}, v);
    CHECK(c.norm == "dyt");
    CHECK(c.alpha0 == 1.0);
    CHECK(c.scale == "sqrtc");
    CHECK(c.embed_scale);
    CHECK(apply_variant(TrainConfig{}, parse_variant("dyisru:beta0=4,plain_beta")).plain_beta);
    auto bad = [](const std::string& spec, const std::string& says) {
      CAPTURE(spec);
      try {
        parse_variant(spec);
        FAIL("no error");
      } catch (const Error& e) {
        const std::string m = e.what();
        CHECK(m.find(says) != std::string::npos);
        CHECK(m.find('\n') == std::string::npos);
      }
    };
    bad("dyt:alpah0=1", "unknown key 'alpah0'");
    bad("dyt:alpha0=abc", "bad value 'abc' for key 'alpha0'");
    bad("dyt:alpha0=-1", "alpha0 must be > 0, got -1");
    bad("dyt:scale=paper", "scale must be one or sqrtc, got 'paper'");
    bad("dyt:seed=3", "unknown key 'seed'");  // seeds belong to --seeds
    bad("dyt:out=x", "unknown key 'out'");
    bad("batchnorm", "unknown norm kind 'batchnorm'");
    bad("dyt:alpha0=1,", "empty setting");
    bad("dyt:n_layer=2.5", "bad value '2.5' for key 'n_layer'");
  }

  TEST_CASE("health labels from measurements") {
    // synthetic training-loss curves: step -> loss, with a deterministic wiggle as noise
    const auto curve = [](int64_t steps, int64_t warmup, auto loss_at) {
      RunCurve c{{}, warmup, steps};
      for (int64_t s = 1; s <= steps; ++s)
        c.loss[s] = loss_at((double)s) + 0.03 * std::sin(1.7 * s);
      return c;
    };
    // stopped at the baseline: falls during warmup, then flat at 3.37
    const RunCurve stopped =
        curve(300, 50, [](double s) { return s < 60 ? 4.2 - 0.014 * s : 3.37; });
    // warmup 50 of 80 steps, the loss still falling at the end
    const RunCurve falling = curve(80, 50, [](double s) { return 4.2 - 0.011 * s; });
    const RunCurve in_warmup = curve(40, 50, [](double) { return 3.4; });  // flat, but in warmup
    const RunCurve drifting = curve(400, 50, [](double s) { return 3.4 - 0.00002 * s; });
    // a 0.05 drop in the last quarter, with +-0.4 noise: the standard error is ~0.19
    const RunCurve noisy =
        curve(40, 2, [](double s) { return (s > 30 ? 3.35 : 3.4) + (int(s) % 2 ? 0.4 : -0.4); });
    CHECK(health_label(false, false, 2.3, 3.3, stopped) == "learning");
    CHECK(health_label(false, false, 2.3, 3.3, falling) == "learning");    // below: learning
    CHECK(health_label(false, false, 3.25, 3.3, stopped) == "collapsed");  // within 0.1 nats
    CHECK(health_label(false, false, 3.9, 3.3, stopped) == "collapsed");   // above the baseline
    CHECK(health_label(false, false, 3.25, 3.3, falling) == "under-trained");
    CHECK(health_label(false, false, 3.25, 3.3, in_warmup) == "under-trained");
    CHECK(health_label(false, false, 3.25, 3.3, drifting) == "collapsed");  // 0.002 per quarter
    // too noisy to show that it stopped: a fall of 0.1 is within two standard errors
    CHECK(health_label(false, false, 3.25, 3.3, noisy) == "under-trained");
    CHECK(health_label(false, false, 3.25, 3.3, curve(7, 2, [](double) { return 3.4; })) ==
          "under-trained");  // under 8 steps: too short to say it stopped
    CHECK(health_label(true, false, NAN, 3.3, stopped) == "diverged");
    CHECK(health_label(false, true, 2.0, 3.3, stopped) == "interrupted");
    // the late drop: a line falling 0.011 per step, 20-step quarters: 0.22 nats
    const LateDrop d = late_drop(falling.loss);
    CHECK(d.drop == doctest::Approx(0.22).epsilon(0.05));
    CHECK(d.from == 41);
    CHECK(d.to == 80);
    CHECK_FALSE(stopped_improving(d));
    CHECK(stopped_improving(late_drop(stopped.loss)));
    CHECK(stopped_improving({0.05, 0.02}));        // 0.09 < 0.1
    CHECK_FALSE(stopped_improving({0.05, 0.03}));  // 0.11: a fall of 0.1 is not ruled out
    CHECK_FALSE(stopped_improving({}));            // n/a: too short to tell
    CHECK(health_rules().find("under-trained") != std::string::npos);
    const std::vector<int64_t> ids = {0, 0, 1, 0, 0, 1, 0, 0, 1, 2};  // val split: {2}
    // add-one: train counts {6, 3, 0} + 1 over 9 + 3
    CHECK(unigram_val_loss(ids, 3) == doctest::Approx(-std::log(1.0 / 12.0)));
  }

  TEST_CASE("read_outcome: a run near the baseline that never left warmup is under-trained") {
    TrainConfig c = tiny_cfg("health_in_warmup");
    c.max_steps = 12, c.warmup = 20, c.dropout = 0;
    train(c);
    // unigram 0: its val loss is above the baseline, where the curve decides
    const RunOutcome r = read_outcome(Job{"layernorm", c}, 0, "", 0.0);
    CHECK(r.label == "under-trained");
    CHECK(r.evidence.find("never left warmup (12 steps, warmup 20)") != std::string::npos);
    CHECK(finished(r.label));  // its last evaluation is its result: means and gaps use it
  }

  TEST_CASE("compare: seeds, a learning, a collapsing and a diverging variant, report") {
    TrainConfig c = tiny_cfg("unused");
    c.max_steps = 40, c.eval_interval = 20, c.dropout = 0, c.ckpt_interval = 20;
    c.probe_interval = 10;
    CompareOptions o{.seeds = 2, .dir = "cli_test_report", .jobs = 1};
    for (const char* s :
         {"layernorm:lr=0.01", "dyt:lr=1e-9,min_lr=1e-9", "none:lr=1e12,min_lr=1e12,warmup=0"})
      o.variants.push_back(parse_variant(s));
    CompareResult r = compare(c, o);
    REQUIRE(r.runs.size() == 6);
    CHECK(r.unigram > 1);
    for (const auto& run : r.runs) {
      CAPTURE(run.variant);
      CAPTURE(run.evidence);
      if (run.variant.rfind("layernorm", 0) == 0) CHECK(run.label == "learning");
      if (run.variant.rfind("dyt", 0) == 0) {
        CHECK(run.label == "collapsed");
        CHECK(run.evidence.find("unigram baseline") != std::string::npos);
      }
      if (run.variant.rfind("none", 0) == 0) {
        CHECK(run.label == "diverged");
        CHECK(run.evidence.find("diverged at step") != std::string::npos);
      }
    }
    CHECK(r.runs[0].seed == c.seed);
    CHECK(r.runs[1].seed == c.seed + 1);
    const auto summary = json::parse(std::ifstream(o.dir + "/summary.json"));
    CHECK(summary["variants"].size() == 3);
    CHECK(summary["variants"][1]["labels"] == "2 collapsed");
    for (const char* k : {"normgrad_version", "git_commit", "build_type", "blas", "cpu", "device"})
      CHECK(summary["manifest"].contains(k));
    std::ifstream md(o.dir + "/report.md");
    const std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
    CHECK(text.find("Unigram baseline") != std::string::npos);
    CHECK(text.find(health_rules()) != std::string::npos);  // the labels' rule, as applied
    CHECK(text.find("| `layernorm:lr=0.01` | 2 learning |") != std::string::npos);
    CHECK(text.find(" ± ") != std::string::npos);
    CHECK(text.find("y = weight * pf * tanh(alpha * x) + bias") != std::string::npos);
    CHECK(text.find("**diverged**: diverged at step") != std::string::npos);
    if (r.figures) {
      for (const char* f : {"loss_curves", "grad_flow", "norm_scalars", "saturation",
                            "update_ratio", "scatter", "jacobian"}) {
        CAPTURE(f);
        CHECK(fs::exists(o.dir + "/" + std::string(f) + ".png"));
      }
    } else {
      MESSAGE("figures skipped: /usr/bin/python3 with matplotlib not available");
    }
    // In parallel processes (the normgrad binary): the same numbers.
    CompareOptions p = o;
    p.jobs = 2, p.exe = NG_CLI_BINARY, p.dir = "cli_test_report_par";
    p.figures = false;  // drawn above; 5 s of matplotlib a report
    CompareResult rp = compare(c, p);
    REQUIRE(rp.runs.size() == 6);
    for (size_t i = 0; i < 6; ++i) {
      CHECK(rp.runs[i].label == r.runs[i].label);
      if (r.runs[i].label != "diverged") CHECK(rp.runs[i].val_loss == r.runs[i].val_loss);
    }
  }

  TEST_CASE("compare --steps-ladder: the same recipes and seeds at each length, gaps across") {
    TrainConfig c = tiny_cfg("unused");
    c.eval_interval = 10, c.dropout = 0, c.ckpt_interval = 20;
    // compare's default probes every max_steps / 20 steps: every step of these short runs,
    // the suite's costliest part under the sanitizers (the Jacobian's power iteration)
    c.probe_interval = 5;
    CompareOptions o{.seeds = 2, .dir = "cli_test_ladder", .jobs = 1};
    o.figures = false;  // the figure step is tested by the test above
    o.steps_ladder = {15, 30};
    for (const char* s : {"layernorm:lr=0.01", "rmsnorm:lr=0.01", "dyt:lr=1e-9,min_lr=1e-9"})
      o.variants.push_back(parse_variant(s));
    CompareResult r = compare(c, o);
    REQUIRE(r.runs.size() == 12);  // 3 variants x 2 seeds x 2 lengths
    std::map<int64_t, int> at_length;
    for (const auto& run : r.runs) {
      CAPTURE(run.out);
      ++at_length[run.steps];
      // the first length keeps the plain folder, a longer one gets its own beside it
      CHECK(run.out == run_dir(o.dir, run.variant, run.seed, run.steps == 15 ? 0 : 30));
      CHECK(fs::exists(run.out + "/ckpt.safetensors"));
    }
    CHECK(at_length == std::map<int64_t, int>{{15, 6}, {30, 6}});
    const auto summary = json::parse(std::ifstream(o.dir + "/summary.json"));
    CHECK(summary["steps"] == json({15, 30}));
    REQUIRE(summary["ladder"].size() == 2);
    CHECK(summary["ladder"][1]["steps"] == 30);
    // the figures draw the longest schedule's runs
    for (const auto& run : summary["variants"][0]["runs"]) CHECK(run["steps"] == 30);
    // rule 6: one trend per variant other than the longest's best, with its numbers
    REQUIRE(summary["schedule_trends"].size() == 2);
    for (const auto& t : summary["schedule_trends"]) {
      CHECK(t["change"]["seeds"] == 2);
      const std::string verdict = t["verdict"];
      CHECK((verdict == "closes" || verdict == "grows" || verdict == "not resolved" ||
             verdict == "reverses"));
    }
    std::ifstream md(o.dir + "/report.md");
    const std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
    CHECK(text.find("### 15 steps") != std::string::npos);
    CHECK(text.find("### 30 steps") != std::string::npos);
    CHECK(text.find("**At 15 steps.** Lowest mean val loss") != std::string::npos);
    CHECK(text.find("**At 30 steps.** Lowest mean val loss") != std::string::npos);
    CHECK(text.find("Schedule lengths 15 and 30 steps") != std::string::npos);
    CHECK(text.find("15 and 30 steps of AdamW") != std::string::npos);
    CHECK(text.find("One schedule length") == std::string::npos);
    // lengths are checked before anything runs
    o.steps_ladder = {30, 15};
    CHECK_THROWS_WITH_AS(compare(c, o), doctest::Contains("ascending and distinct"), Error);
    o.steps_ladder = {15, 30};
    o.variants = {parse_variant("layernorm:max_steps=20")};
    CHECK_THROWS_WITH_AS(compare(c, o), doctest::Contains("sets max_steps"), Error);
  }

  TEST_CASE("--resume refuses foreign files and bad step metadata with a message") {
    TrainConfig c = tiny_cfg("cli_test_foreign");
    fs::create_directories(c.out);
    nn::save_safetensors(c.out + "/ckpt.safetensors", {{"w", zeros({2})}}, {});  // not ours
    c.resume = true;
    CHECK_THROWS_WITH_AS(train(c), doctest::Contains("has no 'config' metadata"), Error);
    TrainConfig d = tiny_cfg("cli_test_badstep");
    d.stop_at = 2;
    train(d);
    auto f = nn::load_safetensors(d.out + "/ckpt.safetensors");
    f.metadata["step"] = "two";
    nn::save_safetensors(d.out + "/ckpt.safetensors", f.tensors, f.metadata);
    d.resume = true, d.stop_at = 0;
    CHECK_THROWS_WITH_AS(train(d), doctest::Contains("metadata 'step' is 'two'"), Error);
  }

  TEST_CASE("the command's one error boundary: a non-normgrad exception is an error, not abort") {
    // Regression: main caught only ng::Error; an --out naming a file ended in terminate.
    std::ofstream("cli_not_a_dir") << "x";
    const std::string cmd = std::string(NG_CLI_BINARY) +
                            " train --out cli_not_a_dir/run --max-steps 1 > cli_err.txt 2>&1";
    const int rc = std::system(cmd.c_str());
    REQUIRE(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 1);
    std::ifstream f("cli_err.txt");
    const std::string out((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    CHECK(out.find("error: ") != std::string::npos);
    CHECK(out.find("cli_not_a_dir") != std::string::npos);
  }

  TEST_CASE("compare's default job count is the cores this process may use, not the machine's") {
    // Regression: compare and sweep counted the machine's online CPUs (sysconf), so under
    // taskset or a container's cpuset they started more processes than they had cores.
    if (std::system("command -v taskset > /dev/null 2>&1") != 0) {
      MESSAGE("skipped: taskset (util-linux) not found");
      return;
    }
    cpu_set_t mine;  // one CPU this process may use (a container need not offer CPU 0)
    REQUIRE(sched_getaffinity(0, sizeof mine, &mine) == 0);
    int cpu = 0;
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &mine)) ++cpu;
    REQUIRE(cpu < CPU_SETSIZE);
    fs::remove_all("cli_one_core");
    const std::string cmd = "taskset -c " + std::to_string(cpu) + " '" +
                            std::string(NG_CLI_BINARY) +
                            "' compare --variant layernorm --variant dyt --seeds 1 --max-steps 2"
                            " --n-layer 1 --n-embd 16 --figures 0 --report cli_one_core"
                            " > cli_one_core.txt 2>&1";
    const int rc = std::system(cmd.c_str());
    std::ifstream f("cli_one_core.txt");
    const std::string out((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    INFO(out);
    REQUIRE(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 0);
    CHECK(out.find("= 2 runs, 1 at a time") != std::string::npos);
  }

  TEST_CASE("help: `normgrad help [command]`, every sample flag described, clear number errors") {
    const auto run = [](const std::string& args, int want_rc) {
      const std::string cmd = std::string(NG_CLI_BINARY) + " " + args + " > cli_help.txt 2>&1";
      const int rc = std::system(cmd.c_str());
      CHECK(WIFEXITED(rc));
      CHECK(WEXITSTATUS(rc) == want_rc);
      std::ifstream f("cli_help.txt");
      return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    };
    const std::string all = run("help", 0);
    CHECK(all.find("sweep") != std::string::npos);
    CHECK(all.find("did you mean") == std::string::npos);
    const std::string sample = run("help sample", 0);
    CHECK(sample == run("sample --help", 0));
    for (const char* flag : {"--ckpt", "--prompt", "--tokens", "--temperature", "--seed", "--top-p",
                             "--num-samples", "--stop", "--no-kv-cache"}) {
      CAPTURE(flag);  // each flag's line says more than its name and type
      const size_t at = sample.find(flag);
      REQUIRE(at != std::string::npos);
      const std::string line = sample.substr(at, sample.find('\n', at) - at);
      CHECK(line.find_first_of("abcdefghijklmnopqrstuvwxyz", line.find(' ')) != std::string::npos);
      CHECK(line.size() > 40);
    }
    // compare and sweep place, resume and size their runs themselves: train's flags for
    // those are not theirs, and --seed is the first seed
    for (const char* cmd : {"sweep", "compare"}) {
      CAPTURE(cmd);
      const std::string help = run(std::string("help ") + cmd, 0);
      CHECK(help == run(std::string(cmd) + " --help", 0));
      for (const char* flag : {"--out ", "--resume", "--stop-at"})
        CHECK(help.find(flag) == std::string::npos);
      CHECK(help.find("replace runs in the report folder that were trained with other") !=
            std::string::npos);
      CHECK(help.find("--report") != std::string::npos);
      CHECK(help.find("the first seed") != std::string::npos);
      CHECK(help.find("seed for init, batches and dropout") == std::string::npos);
      CHECK(run(std::string(cmd) + " --stop-at 5", 2)
                .find(std::string("--stop-at is train's, not ") + cmd + "'s") != std::string::npos);
    }
    CHECK(run("help sweep", 0).find("--n-embd") == std::string::npos);  // --widths sets it
    CHECK(run("help sweep", 0).find("--widths") != std::string::npos);
    CHECK(run("help convert", 0).find("--seeds") != std::string::npos);
    CHECK(run("help trian", 2).find("unknown command trian") != std::string::npos);
    CHECK(run("train --help", 0).find("200-token sample") != std::string::npos);
    CHECK(run("train --lr abc", 2).find("must be a number, got 'abc'") != std::string::npos);
    CHECK(run("train --lr -1", 2).find("must be > 0, got '-1'") != std::string::npos);
    const std::string sample_cmd = "sample --ckpt " + corpus_file();  // parsing fails first
    CHECK(run(sample_cmd + " --top-p 0", 2).find("must be in (0, 1], got '0'") !=
          std::string::npos);
    CHECK(run(sample_cmd + " --top-p 1.5", 2).find("--top-p") != std::string::npos);
    CHECK(run(sample_cmd + " --top-p x", 2).find("must be a number, got 'x'") != std::string::npos);
    CHECK(run(sample_cmd + " --num-samples 0", 2).find("--num-samples") != std::string::npos);
    CHECK(run(sample_cmd + " --num-samples 2.5", 2).find("must be an integer") !=
          std::string::npos);
    CHECK(run(sample_cmd + " --stop 'a\\q'", 1).find("unknown escape") != std::string::npos);
  }

  TEST_CASE("Ctrl-C: the normgrad process saves a checkpoint and exits with 130") {
    const std::string out = "cli_test_sigint";
    fs::remove_all(out);
    const std::string data = corpus_file();
    std::fflush(stdout);  // or the child would print our buffered lines again
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      freopen("/dev/null", "w", stdout);
      execl(NG_CLI_BINARY, NG_CLI_BINARY, "train", "--data", data.c_str(), "--out", out.c_str(),
            "--n-layer", "1", "--n-embd", "16", "--block-size", "16", "--max-steps", "1000000",
            "--ckpt-interval", "1000000", (char*)nullptr);
      _exit(127);
    }
    // wait until training has started (metrics appear), then interrupt
    for (int i = 0; i < 200 && !(fs::exists(out + "/metrics.jsonl") &&
                                 fs::file_size(out + "/metrics.jsonl") > 0);
         ++i)
      usleep(50000);
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 130);
    CHECK(fs::exists(out + "/ckpt.safetensors"));
    fs::remove_all(out);
  }

  TEST_CASE("bad data is a clear error") {
    TrainConfig c = tiny_cfg("cli_test_bad");
    c.data = "no-such-file.txt";
    CHECK_THROWS_WITH_AS(train(c), doctest::Contains("file not found: /"), Error);  // absolute
    CHECK_THROWS_WITH_AS(train(c), doctest::Contains("/no-such-file.txt"), Error);
    std::ofstream("cli_short.txt") << "abc";
    c.data = "cli_short.txt";
    CHECK_THROWS_WITH_AS(train(c), doctest::Contains("text too short"), Error);
    c.data = corpus_file();
    c.device = "tpu";
    CHECK_THROWS_WITH_AS(train(c), doctest::Contains("device must be cpu or cuda, got 'tpu'"),
                         Error);
#ifdef NG_HAS_CUDA
    const bool gpu = ng::cuda::is_available();
#else
    const bool gpu = false;
#endif
    if (!gpu) {  // the GPU run itself is tested in the cuda suite
      c.device = "cuda";
      CHECK_THROWS_WITH_AS(train(c), doctest::Contains("--device cuda: "), Error);
    }
    fs::remove("cli_short.txt");
    fs::remove_all("cli_test_bad");
  }
}

TEST_SUITE("sweep") {
  TEST_CASE("trend of the best value over widths") {
    CHECK(trend({2, 1, 0.5}) == "shrinks");
    CHECK(trend({2, 2, 1}) == "shrinks");
    CHECK(trend({1, 2}) == "grows");
    CHECK(trend({1, 1}) == "stays");
    CHECK(trend({1, 2, 1}) == "no monotone trend");
    CHECK(trend({1}) == "cannot be judged");
  }

  TEST_CASE("the finding: one readable sentence per row, derived from the bests and ties") {
    const std::vector<WidthBest> shrinking = {
        {64, "8", 2.5770, {"4"}}, {128, "4", 2.4267, {}}, {256, "1", 2.4478, {"2"}}};
    CHECK(best_value_finding("alpha0", shrinking) ==
          "the best alpha0 shrinks as the width grows: 8 at width 64 (val 2.5770), 4 at width 128 "
          "(val 2.4267) and 1 at width 256 (val 2.4478). Within the seeds' spread of the best: 4 "
          "at width 64 and 2 at width 256.");
    // one value tied with the best at every width: the seeds do not show the best moving
    const std::vector<WidthBest> unresolved = {{64, "2", 2.6, {"1"}}, {128, "1", 2.5, {}}};
    const std::string u = best_value_finding("alpha0", unresolved);
    CHECK(u.rfind("the best alpha0 shrinks as the width grows", 0) == 0);
    CHECK(u.find("But alpha0 1 is within the seeds' spread of the best at every width") !=
          std::string::npos);
    const std::string none = best_value_finding("beta0", {{64, "", NAN, {}}, {128, "4", 2.5, {}}});
    CHECK(none ==
          "fewer than 2 widths have a cell that learned, so no trend is stated: 4 at width 128 "
          "(val 2.5000). No cell learned at width 64.");
    CHECK(best_value_finding("alpha0", {{64, "2", 2.6, {}}, {128, "2", 2.5, {}}})
              .rfind("the best alpha0 is the same at every width: ", 0) == 0);
    CHECK(
        best_value_finding("alpha0", {{64, "2", 2.6, {}}, {128, "4", 2.5, {}}, {256, "1", 2.4, {}}})
            .find("moves up and down as the width grows (no monotone trend)") != std::string::npos);
    for (const char* garbled : {"((", "))", "; tied"}) CHECK(u.find(garbled) == std::string::npos);
  }

  TEST_CASE("shared settings: only the items every run's description has") {
    CHECK(common_settings({"a=1 b=2 n_embd=64 norm=dyt", "a=1 b=3 n_embd=128 norm=dyt"}) ==
          "a=1 norm=dyt");
    CHECK(common_settings({"a=1 b=2"}) == "a=1 b=2");
    CHECK(common_settings({}).empty());
    CHECK(differing_keys({"a=1 b=2 n_embd=64", "a=1 b=3 n_embd=128 x=1"}, "a=1") == "b, n_embd, x");
    CHECK(differing_keys({"a=1"}, "a=1") == "none");
  }

  TEST_CASE("a tiny grid: table, best per width, figures, and a rerun trains nothing") {
    TrainConfig c = tiny_cfg("unused");
    c.max_steps = 30, c.eval_interval = 15, c.dropout = 0, c.n_layer = 1;
    SweepOptions o;
    o.values = {"0.5", "4"}, o.widths = {16, 32}, o.seeds = 2, o.dir = "sweep_test", o.jobs = 1;
    const SweepResult r = sweep(c, o);
    REQUIRE(r.cells.size() == 4);
    CHECK(r.ran == 8);
    for (int64_t w : {16, 32}) {  // at most one best per width, and only a learning cell
      int best = 0;
      for (const auto& cell : r.cells)
        if (cell.width == w && cell.best) {
          ++best;
          CHECK(cell.labels.find("learning") != std::string::npos);
        }
      CHECK(best <= 1);
    }
    for (const auto& cell : r.cells) {
      REQUIRE(cell.runs.size() == 2);
      CHECK(cell.runs[0].seed == c.seed);
      CHECK(cell.runs[1].seed == c.seed + 1);
      CHECK(cell.runs[0].steps == 30);
    }
    CHECK(lines("sweep_test/sweep.csv").size() == 9);
    std::ifstream md("sweep_test/report.md");
    const std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
    CHECK(text.find("## What the numbers say") != std::string::npos);
    CHECK(text.find("- `dyt:scale=sqrtc`, 1 layers: ") != std::string::npos);
    CHECK((text.find("as the width grows") != std::string::npos ||
           text.find("so no trend is stated") != std::string::npos));
    CHECK(text.find(sweep_finding_rules()) != std::string::npos);
    // the settings line names only what every run uses: not base's n_embd or norm
    const size_t at = text.find("The settings every run uses");
    REQUIRE(at != std::string::npos);
    const std::string settings = text.substr(at, text.find('\n', at) - at);
    CHECK(settings.find("n_head=2") != std::string::npos);
    for (const char* unused : {"n_embd=", "norm=layernorm", "seed=", "alpha0="}) {
      CAPTURE(unused);
      CHECK(settings.find(std::string(" ") + unused) == std::string::npos);
    }
    CHECK(settings.find("norm=dyt") != std::string::npos);  // every cell's own kind
    const auto summary = json::parse(std::ifstream("sweep_test/summary.json"));
    CHECK(settings.find("`" + summary["config"].get<std::string>() + "`") != std::string::npos);
    if (r.figures) {
      CHECK(fs::exists("sweep_test/heatmap.png"));
      CHECK(fs::exists("sweep_test/curves.png"));
    } else {
      MESSAGE("figures skipped: /usr/bin/python3 with matplotlib not available");
    }
    // resumable: a rerun reuses every finished run and gives the same table
    const auto csv = lines("sweep_test/sweep.csv");
    o.figures = false;  // drawn above
    SweepResult again = sweep(c, o);
    CHECK(!again.figures);
    CHECK(again.ran == 0);
    CHECK(again.reused == 8);
    CHECK(lines("sweep_test/sweep.csv") == csv);
    // a run cut before its end (no outcome yet, a checkpoint at step 15) is continued
    const std::string cut = r.cells[0].runs[0].out;
    fs::remove_all(cut);
    TrainConfig short_run = c;  // the cell's own settings, stopped half way
    short_run.out = cut;
    short_run.n_embd = 16;
    short_run.alpha0 = 0.5, short_run.scale = "sqrtc", short_run.norm = "dyt";
    short_run.stop_at = 15;
    train(short_run);
    again = sweep(c, o);
    CHECK(again.ran == 1);
    CHECK(lines("sweep_test/sweep.csv") == csv);  // continued bit for bit
  }
}

TEST_SUITE("convert") {
  TEST_CASE("stats init: the new layer's slope at 0 is the old layer's 1/std") {
    const InputStats s{4.0, 2.25, 100};  // mean square 4 (RMSNorm's), variance 2.25 (LN's)
    CHECK(stats_init("dyt", "rmsnorm", s, 16, "one").at("alpha0") == doctest::Approx(0.5));
    CHECK(stats_init("dyt", "layernorm", s, 16, "sqrtc").at("alpha0") ==
          doctest::Approx(1.0 / (4.0 * 1.5)));
    CHECK(stats_init("derf", "rmsnorm", s, 16, "one").at("alpha0") ==
          doctest::Approx(std::sqrt(M_PI) / 4.0));
    CHECK(stats_init("dyisru", "rmsnorm", s, 16, "sqrtc").at("beta0") == doctest::Approx(60.0));
    CHECK(stats_init("dyisru", "rmsnorm", s, 16, "one").at("beta0") == doctest::Approx(4.0));
    CHECK(stats_init("bhyt", "rmsnorm", s, 16, "one").at("lambda0") == 10.0);
    CHECK_THROWS_WITH_AS(stats_init("layernorm", "rmsnorm", s, 16, "one"),
                         doctest::Contains("cannot convert to 'layernorm'"), Error);
  }

  TEST_CASE("DyISRU from RMSNorm statistics reproduces RMSNorm to the predicted tolerance") {
    // Stollenwerk: RMSNorm's y_i = w_i sqrt(C) x_i / sqrt(x_i^2 + sum_{k != i} x_k^2) exactly.
    // With one beta = (C-1) ms (ms: the measured mean square) each output is RMSNorm's times
    // r_i = sqrt((C ms_t + C eps) / (x_i^2 + beta)), ms_t the token's own mean square: the
    // test checks that identity element by element, and that the error stays within the
    // bound it implies when every token has the same mean square.
    const int64_t C = 64;
    Generator g(5);
    Tensor x = randn({6, 10, C}, {.dtype = DType::F64}, &g);
    x = x / sqrt(mean(square(x), {-1}, true));  // every token: mean square exactly 1
    NormOptions o;
    o.scale = "sqrtc";
    nn::Norm rms("rmsnorm", C, o);
    rms.to(DType::F64);
    {
      NoGradGuard no_grad;
      Tensor(rms.weight).copy_(randn({C}, {.dtype = DType::F64}, &g));
    }
    const double ms = 1.0, eps = o.eps;
    o.beta0 = stats_init("dyisru", "rmsnorm", {ms, 0, 60}, C, "sqrtc").at("beta0");
    nn::Norm isru("dyisru", C, o);
    isru.to(DType::F64);
    {
      NoGradGuard no_grad;
      Tensor(isru.weight).copy_(rms.weight);
    }
    NoGradGuard no_grad;
    const Tensor yr = rms(x), yd = isru(x);
    const Tensor r = sqrt((square(x) * 0 + (double)C * (ms + eps)) / (square(x) + *o.beta0));
    CHECK(allclose(yd, yr * r, 1e-9, 1e-12));  // the identity, element by element
    const auto xv = x.to_vector(), yrv = yr.to_vector(), ydv = yd.to_vector();
    double worst = 0, bound = 0;
    for (size_t i = 0; i < xv.size(); ++i) {
      if (std::fabs(yrv[i]) < 1e-9) continue;
      worst = std::max(worst, std::fabs(ydv[i] / yrv[i] - 1));
      bound =
          std::max(bound, std::fabs(std::sqrt(C * (ms + eps) / (xv[i] * xv[i] + *o.beta0)) - 1));
    }
    MESSAGE("DyISRU vs RMSNorm: worst relative difference ", worst, ", predicted bound ", bound);
    CHECK(worst <= bound + 1e-12);
    CHECK(bound < 0.1);  // x_i^2 - ms over 2 C ms: a few percent at C = 64
  }

  TEST_CASE("replace_norm swaps the layer, its names and its parameters") {
    nn::GPTConfig gc;
    gc.vocab = 10, gc.n_layer = 2, gc.n_head = 2, gc.n_embd = 8, gc.block_size = 4;
    gc.norm = "rmsnorm";
    nn::GPT m(gc);
    CHECK(nn::norm_positions(m).size() == 5);
    auto n = std::make_shared<nn::Norm>("dyt", 8, NormOptions{});
    nn::replace_norm(m, "transformer.h.1.ln_2", n);
    CHECK(m.blocks()[1]->ln_2 == n);
    CHECK(nn::norm_at(m, "transformer.h.1.ln_2")->kind() == "dyt");
    bool found = false;
    for (auto& [name, p] : m.named_parameters()) found |= name == "transformer.h.1.ln_2.alpha";
    CHECK(found);
    nn::replace_norm(m, "transformer.ln_f", std::make_shared<nn::Norm>("dyisru", 8, NormOptions{}));
    CHECK(m.ln_f->kind() == "dyisru");
    CHECK_THROWS_WITH_AS(nn::replace_norm(m, "transformer.h.2.ln_1", n),
                         doctest::Contains("no norm at 'transformer.h.2.ln_1'"), Error);
    CHECK_THROWS_WITH_AS(nn::replace_norm(m, "transformer.ln_f",
                                          std::make_shared<nn::Norm>("dyt", 4, NormOptions{})),
                         doctest::Contains("must have 8 channels"), Error);
    CHECK(m(from_vector(std::vector<int64_t>{1, 2, 3}, {1, 3})).size(-1) == 10);
  }

  TEST_CASE("a tiny surgery: table, per-layer increases, fine-tuning recovers") {
    TrainConfig c = tiny_cfg("surgery_src");
    c.norm = "rmsnorm", c.max_steps = 40, c.dropout = 0;
    train(c);
    ConvertOptions o;
    o.ckpt = c.out + "/ckpt.safetensors";
    o.to = {"dyisru", "dyt"}, o.steps = 10, o.eval_batches = 4, o.per_layer = true;
    o.dir = "surgery_report", o.quiet = true, o.seeds = 2;
    const ConvertResult r = convert(o);
    CHECK(r.source_kind == "rmsnorm");
    REQUIRE(r.rows.size() == 4);
    CHECK(r.per_layer.size() == 2 * 5 * 2);
    // the control: the unconverted model fine-tuned the same way, on the same seeds
    CHECK(r.control.target == "rmsnorm");
    CHECK(r.control.init == "unconverted");
    CHECK(r.control.after == r.before);
    REQUIRE(r.control.all_ft.size() == 2);
    CHECK(r.control.all_ft[0].seed == c.seed + 1);
    CHECK(r.control.all_ft[1].seed == c.seed + 2);
    CHECK(r.control.all_ft[0].val != r.control.all_ft[1].val);  // another batch order
    for (const auto& row : r.rows) {
      CAPTURE(row.target);
      CAPTURE(row.init);
      CHECK(std::isfinite(row.after));
      CHECK(row.curve_all_ft.size() == 5);
      REQUIRE(row.all_ft.size() == 2);
      REQUIRE(row.norm_ft.size() == 2);
      CHECK(row.after_all_ft == doctest::Approx((row.all_ft[0].val + row.all_ft[1].val) / 2));
      CHECK(row.all_ft[0].val == row.curve_all_ft.back());  // the curve is the first seed's
      CHECK(row.after_all_ft < row.after);                  // fine-tuning all parameters helps
      // the paired gap to the control: per seed, d = converted - control
      const double d0 = row.all_ft[0].val - r.control.all_ft[0].val,
                   d1 = row.all_ft[1].val - r.control.all_ft[1].val;
      CHECK(row.vs_control_all.d.n == 2);
      CHECK(row.vs_control_all.d.mean == doctest::Approx((d0 + d1) / 2));
      CHECK(row.vs_control_all.d.sd == doctest::Approx(std::fabs(d0 - d1) / std::sqrt(2.0)));
    }
    MESSAGE("before ", r.before, "; dyisru default ", r.rows[0].after, ", stats ", r.rows[1].after);
    // the exact counterpart, initialised from measured statistics, nearly keeps the model
    CHECK(std::fabs(r.rows[1].after - r.before) < 0.05);
    CHECK(std::fabs(r.rows[1].after - r.before) < std::fabs(r.rows[0].after - r.before));
    std::ifstream md(o.dir + "/report.md");
    const std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
    CHECK(text.find("One layer at a time") != std::string::npos);
    CHECK(text.find("| `rmsnorm` (control) | unconverted | ") != std::string::npos);
    CHECK(text.find("## Converted vs the control, paired by seed") != std::string::npos);
    CHECK(text.find("| `dyisru` | stats | " + versus_control(r.rows[1].vs_control_norm) + " | " +
                    versus_control(r.rows[1].vs_control_all) + " |") != std::string::npos);
    CHECK(fs::exists(o.dir + "/runs/rmsnorm-unconverted-all"));
    CHECK(fs::exists(o.dir + "/runs/dyt-stats-norms-seed" + std::to_string(c.seed + 2)));
    // one TensorBoard run per fine-tuning: val loss from step 0 (right after) to the end
    for (const auto& row : r.rows)
      for (const std::string what : {"norms", "all"}) {
        const EventLog log =
            read_events(o.dir + "/runs/" + row.target + "-" + row.init + "-" + what);
        CAPTURE(log.path);
        REQUIRE(!log.path.empty());
        CHECK(log.framing_ok);
        REQUIRE(log.graphs.size() == 1);  // the model graph after the surgery: the new kind
        for (const GraphNode& n : parse_graph(log.graphs[0]))
          if (n.name == "block0/ln_1" || n.name == "ln_f") CHECK(n.op == row.target);
        const auto& val = log.scalars.at("loss/val");
        const auto& curve = what == "norms" ? row.curve_norm_ft : row.curve_all_ft;
        REQUIRE(val.size() == curve.size() + 1);
        CHECK(val[0] == std::pair<int64_t, float>{0, (float)row.after});
        CHECK(val.back() == std::pair<int64_t, float>{10, (float)curve.back()});
        CHECK(log.scalars.at("loss/train_step").size() == 10);
      }
    CHECK_THROWS_WITH_AS(convert({.ckpt = o.ckpt, .at = "layer:9", .dir = "x"}),
                         doctest::Contains("block index must be in [0, 2)"), Error);
    CHECK_THROWS_WITH_AS(convert({.ckpt = o.ckpt, .seeds = 0, .dir = "x"}),
                         doctest::Contains("--seeds must be in [1, 1000], got 0"), Error);
  }

  TEST_CASE("versus the control: compare's paired-gap verdicts by the 95% interval, signed") {
    const auto vals = [](std::vector<double> v) {
      std::vector<SeedVal> out;
      for (size_t i = 0; i < v.size(); ++i) out.push_back({100 + i, v[i]});
      return out;
    };
    const auto control = vals({2.50, 2.52, 2.51});
    CHECK(versus_control(paired_gap(vals({2.40, 2.43, 2.41}), control, false)) ==
          "better by -0.0967 [-0.1110, -0.0823], p = 0.001");
    CHECK(versus_control(paired_gap(vals({2.60, 2.61, 2.62}), control, false)) ==
          "worse by +0.1000 [+0.0752, +0.1248], p = 0.003");
    CHECK(versus_control(paired_gap(vals({2.51, 2.51, 2.52}), control, false))
              .rfind("not resolved (", 0) == 0);
    CHECK(versus_control(paired_gap(vals({2.40}), control, false)) ==
          "one seed: no claim (-0.1000)");
  }
}

TEST_SUITE("tensorboard") {
  TEST_CASE("CRC-32C of known strings") {
    const std::string a = "123456789";
    CHECK(crc32c((const uint8_t*)a.data(), a.size()) == 0xe3069283u);  // the standard check value
    CHECK(crc32c(nullptr, 0) == 0u);
  }

  TEST_CASE("event files: a second writer in the same second gets a file of its own") {
    // As a run stopped and resumed by one process does: the first segment's file (and the
    // graph only it holds) must not be truncated by the second's.
    const std::string dir = "tb_two_writers";
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::string first_path;
    {
      TensorBoardWriter first(dir);
      first.graph("");  // an empty GraphDef
      first_path = first.path();
    }
    TensorBoardWriter second(dir);
    second.flush();
    CHECK(second.path() != first_path);
    const auto files = event_files(dir);
    REQUIRE(files.size() == 2);
    CHECK(files[0] == first_path);  // name order is creation order
    CHECK(read_event_file(files[0]).graphs.size() == 1);
    fs::remove_all(dir);
  }

  TEST_CASE("event files: TFRecord framing, CRCs, every scalar and probe of a run") {
    TrainConfig c = tiny_cfg("tb_run");
    c.probe_interval = 6, c.sample_interval = 6;
    train(c);
    TrainConfig plain = tiny_cfg("tb_plain");  // no probes, samples or event files
    plain.tensorboard = false;
    train(plain);
    check_same_metrics(c.out, plain.out, 12);  // logging changes no number of the run
    for (const auto& e : fs::directory_iterator(plain.out))
      CHECK(e.path().filename().string().rfind("events.out", 0) != 0);
    const EventLog log = read_events(c.out);
    REQUIRE(!log.path.empty());
    CHECK(log.framing_ok);
    CHECK(log.version);
    auto scalars = log.scalars;
    const auto& histograms = log.histograms;
    auto texts = log.texts;
    const auto metrics = lines(c.out + "/metrics.jsonl");
    REQUIRE(scalars["loss/train_step"].size() == metrics.size());
    for (size_t i = 0; i < metrics.size(); ++i) {  // the same numbers as metrics.jsonl
      const json m = json::parse(metrics[i]);
      CHECK(scalars["loss/train_step"][i].first == m["step"].get<int64_t>());
      CHECK(scalars["loss/train_step"][i].second == (float)m["loss"].get<double>());
    }
    CHECK(scalars["loss/val"].size() == 3);  // steps 5, 10, 12
    for (const char* t : {"optim/lr", "optim/grad_norm", "speed/tokens_per_s", "loss/train_eval",
                          "probe/residual_grad/0", "probe/norms/transformer.h.0.ln_1/std",
                          "probe/params/transformer.h.1.mlp.c_fc.weight/grad_norm"}) {
      CAPTURE(t);
      CHECK(scalars.count(t) == 1);
    }
    CHECK(scalars["probe/residual_grad/0"].size() == 2);  // probes at steps 6 and 12
    CHECK(histograms.count("probe/norms/transformer.h.0.ln_1/input_sample") == 1);
    CHECK(histograms.count("probe/norms/transformer.ln_f/output_sample") == 1);
    CHECK(histograms.count("grad/transformer.h.0.attn.c_attn.weight") == 1);
    {  // beside every gradient histogram, one of the parameter's values
      nn::GPT model(c.gpt(65, false));
      for (const auto& [name, p] : model.named_parameters()) {
        CAPTURE(name);
        CHECK(histograms.count("grad/" + name) == 1);
        CHECK(histograms.count("param/" + name) == 1);
      }
    }
    CHECK(texts["sample"] == std::vector<int64_t>{6, 12});
    CHECK(texts["_hparams_/session_start_info"] == std::vector<int64_t>{0});
    CHECK(texts["_hparams_/session_end_info"] == std::vector<int64_t>{0});

    // The real reader: tools/test.sh installs the tensorboard package from PyPI into a venv
    // and exports NG_TB_PYTHON; without it this part says why it is skipped.
    const char* env = std::getenv("NG_TB_PYTHON");
    const std::string py = env ? env : "";
    if (py.empty() ||
        std::system((py + " -c 'import tensorboard' > /dev/null 2>&1").c_str()) != 0) {
      MESSAGE("skipped the check with the real tensorboard reader: NG_TB_PYTHON ",
              py.empty() ? "is not set" : "'" + py + "' cannot import tensorboard",
              " (tools/test.sh installs it from PyPI)");
      return;
    }
    const std::string cmd = py + " " + NG_TEST_DIR + "/read_tensorboard.py " + c.out + " > tb.json";
    REQUIRE(std::system(cmd.c_str()) == 0);
    const json r = json::parse(std::ifstream("tb.json"));
    for (const auto& [tag, points] : scalars) {
      CAPTURE(tag);
      REQUIRE(r["scalars"].contains(tag));
      REQUIRE(r["scalars"][tag]["values"].size() == points.size());
      for (size_t i = 0; i < points.size(); ++i) {
        CHECK(r["scalars"][tag]["steps"][i].get<int64_t>() == points[i].first);
        CHECK(r["scalars"][tag]["values"][i].get<float>() == points[i].second);
      }
    }
    for (const auto& h : histograms) CHECK(r["histograms"].contains(h));
    CHECK(r["tensors"].contains("sample"));
    CHECK(r["plugins"]["hparams"] ==
          json::array({"_hparams_/session_end_info", "_hparams_/session_start_info"}));
    MESSAGE("the tensorboard package read ", r["scalars"].size(), " scalar tags and ",
            r["histograms"].size(), " histogram tags, all equal to what normgrad wrote");
  }

  TEST_CASE("model graph: a GPT's layers as GraphDef nodes, wired as the data flows") {
    nn::GPTConfig gc;
    gc.vocab = 11, gc.n_layer = 2, gc.n_head = 2, gc.n_embd = 8, gc.block_size = 6;
    gc.norm = "dyt", gc.norm_final = "rmsnorm", gc.embed_scale = true;  // dropout 0: no nodes
    nn::GPT m(gc);
    // A norm put in by surgery shows its own kind: the graph names no kind itself.
    nn::replace_norm(m, "transformer.h.1.ln_2",
                     std::make_shared<nn::Norm>("derf", 8, NormOptions{}));
    const std::vector<GraphNode> nodes = parse_graph(gpt_graph_def(m, 3));
    std::map<std::string, const GraphNode*> by_name;
    for (const GraphNode& n : nodes) {
      CAPTURE(n.name);
      CHECK(by_name.count(n.name) == 0);
      by_name[n.name] = &n;
    }
    // idx, wte, embed_scale, positions, wpe, add_embeddings; per block ln_1, c_attn,
    // attention, c_proj, add_attn, ln_2, c_fc, gelu, c_proj, add_mlp; ln_f, lm_head,
    // targets, loss
    CHECK(nodes.size() == 6 + 2 * 10 + 4);
    const auto node = [&](const std::string& name) -> const GraphNode& {
      CAPTURE(name);
      REQUIRE(by_name.count(name) == 1);
      return *by_name.at(name);
    };
    using Names = std::vector<std::string>;
    for (const char* n : {"block0/ln_1", "block0/ln_2", "block1/ln_1"}) CHECK(node(n).op == "dyt");
    CHECK(node("block1/ln_2").op == "derf");
    CHECK(node("ln_f").op == "rmsnorm");
    CHECK(node("wte").op == "Embedding");
    CHECK(node("block0/attn/c_attn").op == "Linear");
    CHECK(node("block0/attn/attention").op == "Attention");
    CHECK(node("block0/mlp/gelu").op == "GELU");
    CHECK(node("block1/add_mlp").op == "Add");
    CHECK(node("loss").op == "CrossEntropy");
    // the data flow: each block reads the one before, the residual adds their branches
    CHECK(node("block0/ln_1").inputs == Names{"add_embeddings"});
    CHECK(node("add_embeddings").inputs == Names{"embed_scale", "wpe"});
    CHECK(node("block1/add_attn").inputs == Names{"block0/add_mlp", "block1/attn/c_proj"});
    CHECK(node("block1/ln_2").inputs == Names{"block1/add_attn"});
    CHECK(node("block1/add_mlp").inputs == Names{"block1/add_attn", "block1/mlp/c_proj"});
    CHECK(node("ln_f").inputs == Names{"block1/add_mlp"});
    CHECK(node("loss").inputs == Names{"lm_head", "targets"});
    // output shapes: [batch, block_size, width]
    CHECK(output_shape(node("block0/ln_1")) == Shape{3, 6, 8});
    CHECK(output_shape(node("block0/attn/c_attn")) == Shape{3, 6, 24});
    CHECK(output_shape(node("block0/attn/attention")) == Shape{3, 6, 8});
    CHECK(output_shape(node("block0/mlp/c_fc")) == Shape{3, 6, 32});
    CHECK(output_shape(node("wpe")) == Shape{6, 8});
    CHECK(output_shape(node("lm_head")) == Shape{3, 6, 11});
    CHECK(output_shape(node("loss")) == Shape{});
    std::set<std::string> made;  // every input names a node made before it
    for (const GraphNode& n : nodes) {
      for (const std::string& in : n.inputs) {
        CAPTURE(n.name);
        CHECK(made.count(in) == 1);
      }
      made.insert(n.name);
    }
    // every parameter once, with its shape, at the node of its module
    for (const auto& [name, p] : m.named_parameters()) {
      CAPTURE(name);
      int found = 0;
      for (const GraphNode& n : nodes)
        for (const auto& [k, v] : n.attrs) {
          if (k.rfind("param/", 0) != 0) continue;
          const std::string module = n.attrs.count("module")
                                         ? attr_fields(n.attrs.at("module"))[2].bytes + "."
                                         : std::string();
          if (module + k.substr(6) != name) continue;
          ++found;
          CHECK(parse_shape(attr_fields(v)[7].bytes) == p.shape());
        }
      CHECK(found == 1);
    }
    CHECK(attr_fields(node("block0/attn/attention").attrs.at("n_head"))[3].varint == 2);
  }

  TEST_CASE("model graph: written once per run, drawn by TensorBoard's own GRAPHS backend") {
    const std::string dir = "tb_graph";
    fs::remove_all(dir);
    fs::create_directories(dir);
    TrainConfig c = tiny_cfg(dir + "/dyt");  // dropout 0.1: the dropouts are nodes too
    c.norm = "dyt", c.norm_final = "rmsnorm", c.stop_at = 6;
    train(c);
    c.stop_at = 0, c.resume = true;
    train(c);
    const auto files = event_files(c.out);
    REQUIRE(files.size() == 2);  // one per segment
    size_t graphs = 0;
    for (const auto& f : files) graphs += read_event_file(f).graphs.size();
    CHECK(graphs == 1);  // the first segment's: a resume adds no second graph
    REQUIRE(!read_event_file(files[0]).graphs.empty());
    const auto nodes = parse_graph(read_event_file(files[0]).graphs[0]);
    // 10 outside the blocks (idx, wte, positions, wpe, add_embeddings, drop, ln_f, lm_head,
    // targets, loss) and 12 per block (with attn/resid_dropout and mlp/dropout)
    CHECK(nodes.size() == 10 + (size_t)c.n_layer * 12);

    const char* env = std::getenv("NG_TB_PYTHON");
    const std::string py = env ? env : "";
    if (py.empty() ||
        std::system((py + " -c 'import tensorboard' > /dev/null 2>&1").c_str()) != 0) {
      MESSAGE("skipped the check with TensorBoard's graphs backend: NG_TB_PYTHON ",
              py.empty() ? "is not set" : "'" + py + "' cannot import tensorboard",
              " (tools/test.sh installs it from PyPI)");
      return;
    }
    const std::string cmd =
        py + " " + NG_TEST_DIR + "/tensorboard_graph.py " + dir + " > tb_graph.json";
    REQUIRE(std::system(cmd.c_str()) == 0);
    const json r = json::parse(std::ifstream("tb_graph.json"));
    CHECK(r["runs"]["dyt"]["run_graph"] == true);  // the GRAPHS tab offers the run's graph
    const json& g = r["graphs"]["dyt"];
    REQUIRE(g.size() == nodes.size());
    std::map<std::string, json> by_name;
    for (const json& n : g) by_name[n["name"].get<std::string>()] = n;
    CHECK(by_name.size() == g.size());
    int norms = 0;
    for (const json& n : g) {
      const std::string name = n["name"];
      CAPTURE(name);
      for (const auto& in : n["input"]) CHECK(by_name.count(in.get<std::string>()) == 1);
      REQUIRE(n["output_shapes"].is_array());
      CHECK(n["output_shapes"].size() == 1);
      if (name.size() >= 5 &&
          (name.substr(name.size() - 5) == "/ln_1" || name.substr(name.size() - 5) == "/ln_2")) {
        CHECK(n["op"] == "dyt");
        CHECK(n["params"]["alpha"] == json::array());  // DyT's scalar alpha
        CHECK(n["params"]["weight"] == json::array({c.n_embd}));
        ++norms;
      }
    }
    CHECK(norms == 2 * c.n_layer);
    CHECK(by_name["ln_f"]["op"] == "rmsnorm");
    CHECK(by_name["block1/attn/c_attn"]["output_shapes"][0] ==
          json::array({c.batch, c.block_size, 3 * c.n_embd}));
    CHECK(by_name["block1/attn/c_attn"]["params"]["weight"] ==
          json::array({3 * c.n_embd, c.n_embd}));
    CHECK(by_name["block1/attn/c_attn"]["module"] == "transformer.h.1.attn.c_attn");
    CHECK(by_name["block1/mlp/dropout"]["op"] == "Dropout");
    CHECK(by_name["block1/add_mlp"]["input"] ==
          json::array({"block1/add_attn", "block1/mlp/dropout"}));
    MESSAGE("TensorBoard's graphs backend: ", g.size(), " nodes, ", norms,
            " dyt norms in the blocks, every input a node");
    fs::remove_all(dir);
  }

  TEST_CASE("hparams: TensorBoard's own backend lists every run's recipe and filters by it") {
    // Three runs in one folder, as compare writes them: LayerNorm (finished), DyT with its
    // own alpha0 and lr (finished), LayerNorm stopped at step 6 (no end yet).
    const std::string dir = "tb_hparams";
    fs::remove_all(dir);
    fs::create_directories(dir);
    TrainConfig ln = tiny_cfg(dir + "/ln"), dyt = tiny_cfg(dir + "/dyt"),
                stopped = tiny_cfg(dir + "/ln_stopped");
    ln.probe_interval = 6;  // parameter histograms too
    dyt.norm = "dyt", dyt.alpha0 = 2.0, dyt.lr = 3e-3;
    stopped.stop_at = 6;
    for (const TrainConfig* c : {&ln, &dyt, &stopped}) train(*c);
    const char* env = std::getenv("NG_TB_PYTHON");
    const std::string py = env ? env : "";
    if (py.empty() ||
        std::system((py + " -c 'import tensorboard' > /dev/null 2>&1").c_str()) != 0) {
      MESSAGE("skipped: NG_TB_PYTHON ",
              py.empty() ? "is not set" : "'" + py + "' cannot import tensorboard",
              " (tools/test.sh installs it from PyPI)");
      return;
    }
    const std::string cmd =
        py + " " + NG_TEST_DIR + "/tensorboard_hparams.py " + dir + " norm=dyt > tb_hparams.json";
    REQUIRE(std::system(cmd.c_str()) == 0);
    const json r = json::parse(std::ifstream("tb_hparams.json"));
    CAPTURE(r.dump());
    const json& hp = r["hparams"];  // the experiment TensorBoard inferred from the runs
    CHECK(hp["norm"]["type"] == "DATA_TYPE_STRING");
    CHECK(hp["norm"]["domain"] == json::array({"dyt", "layernorm"}));
    for (const char* name : {"lr", "alpha0", "n_layer", "n_embd", "seed", "warmup", "eps"}) {
      CAPTURE(name);
      CHECK(hp[name]["type"] == "DATA_TYPE_FLOAT64");
    }
    CHECK(hp["bias"]["type"] == "DATA_TYPE_BOOL");
    for (const char* book : {"eval_interval", "log_interval", "out", "device", "quiet"}) {
      CAPTURE(book);  // bookkeeping and place: not the recipe
      CHECK(!hp.contains(book));
    }
    CHECK(std::find(r["metrics"].begin(), r["metrics"].end(), "loss/val") != r["metrics"].end());
    const json& sessions = r["sessions"];
    CHECK(sessions["dyt"]["hparams"]["norm"] == "dyt");
    CHECK(sessions["dyt"]["hparams"]["alpha0"] == 2.0);
    CHECK(sessions["dyt"]["hparams"]["lr"] == 3e-3);
    CHECK(sessions["ln"]["hparams"]["norm"] == "layernorm");
    CHECK(sessions["ln"]["hparams"]["lr"] == ln.lr);
    CHECK(sessions["ln"]["status"] == "STATUS_SUCCESS");
    CHECK(sessions["dyt"]["status"] == "STATUS_SUCCESS");
    CHECK(sessions["ln_stopped"].contains("hparams"));
    CHECK(!sessions["ln_stopped"].contains("status"));  // ends when resumed to max_steps
    CHECK(r["filtered"] == json::array({"dyt"}));       // the HPARAMS tab with norm = dyt ticked
    MESSAGE("TensorBoard's hparams backend: ", hp.size(), " hyperparameters and ",
            r["metrics"].size(), " metrics over ", sessions.size(), " runs; norm=dyt keeps ",
            r["filtered"].dump());
    fs::remove_all(dir);
  }
}
