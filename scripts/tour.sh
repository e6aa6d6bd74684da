#!/usr/bin/env bash
# A scripted tour through the real `smesh` CLI, offline: wallets, addresses, transactions.
# Everything is written to a fresh temporary directory; nothing in ~/.spacemesh is touched.
set -euo pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SMESH_WALLET_DIR="$work/wallets"
printf 'correct horse battery staple' > "$work/password"
chmod 600 "$work/password"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "Create a wallet non-interactively (the mnemonic is printed once)" \
  smesh wallet create --password-file "$work/password" --accounts 2 --file "$work/alice.json"
step "Import a second wallet from a known mnemonic (spec vector K2)" \
  bash -c "printf 'film theme cheese broken kingdom destroy inch ready wear inspire shove pudding' > '$work/k2.txt' \
  && smesh wallet import --mnemonic-file '$work/k2.txt' --password-file '$work/password' --file '$work/bob.json'"
step "Show Alice's accounts with testnet addresses" \
  smesh wallet show --file "$work/alice.json" --password-file "$work/password" --hrp stest

bob_key=$(smesh --json wallet show --file "$work/bob.json" --password-file "$work/password" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["accounts"][0]["publicKey"])')
alice_key=$(smesh --json wallet show --file "$work/alice.json" --password-file "$work/password" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["accounts"][0]["publicKey"])')
bob=$(smesh wallet address --key "$bob_key")

step "Compute a 2-of-2 multisig address" \
  smesh wallet address --required 2 --key "$alice_key" --key "$bob_key"

step "Build and sign Bob's self-spawn on mainnet" \
  bash -c "smesh tx spawn --file '$work/bob.json' --password-file '$work/password' | tee '$work/spawn.hex'"
step "Decode it" smesh tx decode "$work/spawn.hex"

step "Alice spends 1.5 SMH to Bob (nonce 1, gas price 2)" \
  bash -c "smesh tx spend --file '$work/alice.json' --password-file '$work/password' --to $bob --amount 1.5smh --nonce 1 --gas-price 2 | tee '$work/spend.hex'"
step "Decode the spend as JSON" smesh --json tx decode "$work/spend.hex"
step "Its fee" smesh tx fee "$work/spend.hex"

step "A 2-of-2 multisig spend: Alice builds and signs her part" \
  bash -c "smesh --json tx multisig-spend --required 2 --key $alice_key --key $bob_key --to $bob --amount 1smh --nonce 0 \
     --file '$work/alice.json' --password-file '$work/password' > '$work/ms.json' && cat '$work/ms.json'"
unsigned=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["unsigned"])' "$work/ms.json")
part_a=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parts"][0]["hex"])' "$work/ms.json")
step "Bob signs the same unsigned transaction" \
  bash -c "smesh tx sign $unsigned --key $alice_key --key $bob_key --file '$work/bob.json' --password-file '$work/password' > '$work/part_b.hex' && cat '$work/part_b.hex'"
step "Combine both parts into the signed transaction" \
  bash -c "smesh tx combine $unsigned --part $(cat "$work/part_b.hex") --part $part_a --required 2 --key $alice_key --key $bob_key | tee '$work/ms.hex'"
step "Decode it (parts sorted by ref, gas for a 2-key principal)" smesh tx decode "$work/ms.hex" --keys 2

step "Sign a message the way smapp does, and verify it" \
  bash -c "smesh wallet sign-message 'I own this address' --file '$work/alice.json' --password-file '$work/password' > '$work/msg.json' && smesh wallet verify-message '$work/msg.json'"

zero=$(python3 -c 'print("00" * 32)')
step "PoST: initialize standalone-sized data (a new identity is generated)" \
  smesh post init --datadir "$work/post" --preset standalone --commitment-atx-id "$zero" --yes
step "PoST: prove it for the all-zero challenge (the initial PoST of a first ATX)" \
  bash -c "smesh post prove --datadir '$work/post' --preset standalone --challenge $zero | tee '$work/proof.json'"
step "PoST: verify the proof, then every label on disk" \
  bash -c "smesh post verify-proof --proof '$work/proof.json' --preset standalone && smesh post verify-data --datadir '$work/post' --fraction 100"

printf '\n\033[1mTour complete.\033[0m\n'
