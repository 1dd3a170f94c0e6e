#!/usr/bin/env bash
# Two hosts of one rank each, made on this machine as network namespaces joined by a veth pair
# (10.203.0.1 and 10.203.0.2, seen only inside them), train the quickstart model for 50 steps:
# `zoo launch --nnodes 2 --node-rank R --master-addr 10.203.0.1` on each, as on two machines.
# Needs root and ip netns; exits 77 (ctest: skipped) where they are missing.
# Usage: distributed_two_hosts.sh ZOO_BINARY SOURCE_DIR
source "$(dirname "$0")/../support/script_setup.sh"
if [[ $(id -u) -ne 0 ]] || ! command -v ip > /dev/null || ! ip netns add zoo_probe_$$ 2> /dev/null; then
  echo "skipped: needs root and ip netns"
  exit 77
fi
ip netns delete zoo_probe_$$
a=zoo_host_a_$$ b=zoo_host_b_$$
cleanup() {
  ip netns pids $a 2> /dev/null | xargs -r kill -KILL 2> /dev/null || true
  ip netns pids $b 2> /dev/null | xargs -r kill -KILL 2> /dev/null || true
  ip netns delete $a 2> /dev/null || true
  ip netns delete $b 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add $a
ip netns add $b
ip link add veth_a_$$ type veth peer name veth_b_$$
ip link set veth_a_$$ netns $a
ip link set veth_b_$$ netns $b
ip -n $a addr add 10.203.0.1/24 dev veth_a_$$
ip -n $b addr add 10.203.0.2/24 dev veth_b_$$
for ns in $a $b; do ip -n $ns link set lo up; done
ip -n $a link set veth_a_$$ up
ip -n $b link set veth_b_$$ up

write_corpus corpus.txt 6 3000
# recipes/quickstart.yaml's model and trainer, on generated text.
cat > recipe.yaml <<'YAML'
name: hosts
seed: 1337
threads: 1
tokenizer: {type: char}
data: {type: text, train: corpus.txt, block_size: 64}
model: {type: gpt, n_layer: 4, n_head: 4, d_model: 128, block_size: 64, dropout: 0.0}
trainer:
  type: lm
  batch_size: 16
  max_steps: 50
  optimizer: {type: adamw, lr: 3.0e-3, weight_decay: 0.1, betas: [0.9, 0.99]}
  scheduler: {type: cosine, warmup_steps: 10, min_lr: 3.0e-4}
  log_every: 10
  eval_every: 0
  eval_batches: 2
  checkpoint_every: 0
  distributed_timeout_s: 60
generation: {max_new_tokens: 0}
YAML
# Each host its own run directory, as two machines would have; rank 0's is the run.
mkdir host_a host_b
cp corpus.txt recipe.yaml host_a/
cp corpus.txt recipe.yaml host_b/
node() {  # NAMESPACE INTERFACE NODE_RANK DIR
  (cd "$4" && ip netns exec "$1" env GLOO_SOCKET_IFNAME="$2" "$zoo" launch --nproc 1 --nnodes 2 --node-rank "$3" \
     --master-addr 10.203.0.1 --master-port 29551 -- train recipe.yaml > launch.log 2>&1)
}
node $a veth_a_$$ 0 host_a &
first=$!
node $b veth_b_$$ 1 host_b &
second=$!
status_a=0 status_b=0
wait $first || status_a=$?
wait $second || status_b=$?
[[ $status_a -eq 0 && $status_b -eq 0 ]] ||
  { echo "FAIL: exit codes $status_a and $status_b"; cat host_a/launch.log host_b/launch.log; exit 1; }
steps=$(grep -c '"event":"train"' host_a/runs/hosts/metrics.jsonl)
[[ $steps -eq 5 ]] || { echo "FAIL: rank 0 logged $steps train events, expected 5"; exit 1; }
[[ ! -e host_b/runs/hosts/metrics.jsonl ]] || { echo "FAIL: rank 1 wrote a log"; exit 1; }
grep -q '"world_size":2' host_a/runs/hosts/metrics.jsonl || { echo "FAIL: the run does not record 2 ranks"; exit 1; }
fa=$(grep -o 'weights fingerprint [0-9a-f]*' host_a/launch.log)
fb=$(grep -o 'weights fingerprint [0-9a-f]*' host_b/launch.log)
[[ -n $fa && $fa == "$fb" ]] || { echo "FAIL: the hosts' weights differ ($fa, $fb)"; exit 1; }
echo "ok: two hosts trained 50 steps as one model ($fa)"
