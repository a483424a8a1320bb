// The `duel` subcommands. Each returns the process exit code and throws duel::Error for bad
// input (main prints it on one line and exits non-zero).
#pragma once

namespace duel::cli {

int cmd_ops(int argc, char** argv);        // duel ops [--json]
int cmd_gradcheck(int argc, char** argv);  // duel gradcheck [--op NAME | --all] [--json]
int cmd_op(int argc, char** argv);         // duel op NAME --in F --out F [--attr k=v]... [--backward]
int cmd_demo(int argc, char** argv);       // duel demo: ops, a double backward, gradient checks
int cmd_train(int argc, char** argv);      // duel train: a GAN training run
int cmd_sample(int argc, char** argv);     // duel sample: a grid from a checkpoint
int cmd_step(int argc, char** argv);       // duel step: one training iteration, dumped
int cmd_bench(int argc, char** argv);      // duel bench step: time training steps
int cmd_classifier(int argc, char** argv); // duel classifier train|eval: the feature network
int cmd_eval(int argc, char** argv);       // duel eval: Frechet distance, KID, precision/recall, coverage
int cmd_lab(int argc, char** argv);        // duel lab: the 2D GAN lab
int cmd_chart(int argc, char** argv);      // duel chart: one metric of several runs, as SVG
int cmd_graph(int argc, char** argv);      // duel graph: one iteration's autograd graph as DOT
int cmd_report(int argc, char** argv);     // duel report: an HTML page for a training run
int cmd_version(int argc, char** argv);    // duel version / duel --version
int cmd_studio(int argc, char** argv);     // duel studio: the 2D lab as a live web page
int cmd_detect(int argc, char** argv);     // duel detect train|spectrum|attack: catching fakes

}  // namespace duel::cli
