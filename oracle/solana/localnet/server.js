#!/usr/bin/env node
// hexfield localnet: a Solana JSON-RPC server (HTTP on PORT, pubsub websocket on PORT+1)
// around one in-memory litesvm SVM. It serves the methods and shapes listed in
// shared/spec/solana-rewards.md §8, enforces the 1232-byte transaction limit and
// mainnet-like preflight, and adds test methods (litesvm_expireBlockhash,
// litesvm_warpToSlot, litesvm_setAccount, litesvm_addProgram, litesvm_save).
//
// Usage: node server.js [--port N] [--host 127.0.0.1] [--exit-on-stdin-eof]
// With --port 0 (the default) a free pair of ports is chosen. When listening, one JSON line
// {"rpc":"http://…","ws":"ws://…","pid":N} is printed on stdout.
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const crypto = require('node:crypto');
const { LiteSvm, Account } = require('litesvm/dist/internal');
const { WebSocketServer } = require('ws');

const PACKET_DATA_SIZE = 1232;
const LAMPORTS_PER_SIGNATURE = 5000n;
const U64_MAX = 18446744073709551615n;

// Names of litesvm's fieldless error enums, in declaration order (internal.d.ts).
const TX_ERRORS = ['AccountInUse', 'AccountLoadedTwice', 'AccountNotFound', 'ProgramAccountNotFound',
  'InsufficientFundsForFee', 'InvalidAccountForFee', 'AlreadyProcessed', 'BlockhashNotFound',
  'CallChainTooDeep', 'MissingSignatureForFee', 'InvalidAccountIndex', 'SignatureFailure',
  'InvalidProgramForExecution', 'SanitizeFailure', 'ClusterMaintenance', 'AccountBorrowOutstanding',
  'WouldExceedMaxBlockCostLimit', 'UnsupportedVersion', 'InvalidWritableAccount',
  'WouldExceedMaxAccountCostLimit', 'WouldExceedAccountDataBlockLimit', 'TooManyAccountLocks',
  'AddressLookupTableNotFound', 'InvalidAddressLookupTableOwner', 'InvalidAddressLookupTableData',
  'InvalidAddressLookupTableIndex', 'InvalidRentPayingAccount', 'WouldExceedMaxVoteCostLimit',
  'WouldExceedAccountDataTotalLimit', 'MaxLoadedAccountsDataSizeExceeded', 'ResanitizationNeeded',
  'InvalidLoadedAccountsDataSizeLimit', 'UnbalancedTransaction', 'ProgramCacheHitMaxLimit',
  'CommitCancelled'];
const IX_ERRORS = ['GenericError', 'InvalidArgument', 'InvalidInstructionData', 'InvalidAccountData',
  'AccountDataTooSmall', 'InsufficientFunds', 'IncorrectProgramId', 'MissingRequiredSignature',
  'AccountAlreadyInitialized', 'UninitializedAccount', 'UnbalancedInstruction', 'ModifiedProgramId',
  'ExternalAccountLamportSpend', 'ExternalAccountDataModified', 'ReadonlyLamportChange',
  'ReadonlyDataModified', 'DuplicateAccountIndex', 'ExecutableModified', 'RentEpochModified',
  'NotEnoughAccountKeys', 'AccountDataSizeChanged', 'AccountNotExecutable', 'AccountBorrowFailed',
  'AccountBorrowOutstanding', 'DuplicateAccountOutOfSync', 'InvalidError', 'ExecutableDataModified',
  'ExecutableLamportChange', 'ExecutableAccountNotRentExempt', 'UnsupportedProgramId', 'CallDepth',
  'MissingAccount', 'ReentrancyNotAllowed', 'MaxSeedLengthExceeded', 'InvalidSeeds', 'InvalidRealloc',
  'ComputationalBudgetExceeded', 'PrivilegeEscalation', 'ProgramEnvironmentSetupFailure',
  'ProgramFailedToComplete', 'ProgramFailedToCompile', 'Immutable', 'IncorrectAuthority',
  'AccountNotRentExempt', 'InvalidAccountOwner', 'ArithmeticOverflow', 'UnsupportedSysvar',
  'IllegalOwner', 'MaxAccountsDataAllocationsExceeded', 'MaxAccountsExceeded',
  'MaxInstructionTraceLengthExceeded', 'BuiltinProgramsMustConsumeComputeUnits', 'BorshIoError'];
// Transaction errors after which a transaction is not in any block (no status is recorded).
const NOT_LANDED = new Set(['BlockhashNotFound', 'AlreadyProcessed', 'SignatureFailure',
  'AccountNotFound', 'InsufficientFundsForFee', 'InvalidAccountForFee', 'MissingSignatureForFee',
  'SanitizeFailure', 'AccountLoadedTwice', 'TooManyAccountLocks', 'AddressLookupTableNotFound',
  'InvalidAddressLookupTableOwner', 'InvalidAddressLookupTableData', 'InvalidAddressLookupTableIndex',
  'UnsupportedVersion', 'AccountInUse', 'ProgramAccountNotFound', 'InvalidProgramForExecution']);

const SYSTEM_PROGRAM = '11111111111111111111111111111111';
const MEMO_PROGRAMS = new Set(['MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr',
  'Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo']);

// ---- base58 ----
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const B58MAP = new Map([...B58].map((c, i) => [c, BigInt(i)]));
function b58encode(bytes) {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let s = '';
  while (n > 0n) { s = B58[Number(n % 58n)] + s; n /= 58n; }
  for (const b of bytes) { if (b !== 0) break; s = '1' + s; }
  return s;
}
function b58decode(s, want) {
  if (typeof s !== 'string') throw rpcError(-32602, 'Invalid param: expected a base58 string');
  let n = 0n;
  for (const c of s) {
    const v = B58MAP.get(c);
    if (v === undefined) throw rpcError(-32602, `Invalid param: invalid base58 string "${s}"`);
    n = n * 58n + v;
  }
  const out = [];
  while (n > 0n) { out.unshift(Number(n & 0xffn)); n >>= 8n; }
  for (const c of s) { if (c !== '1') break; out.unshift(0); }
  if (want !== undefined && out.length !== want) {
    throw rpcError(-32602, `Invalid param: "${s}" is not ${want} bytes`);
  }
  return Uint8Array.from(out);
}

// ---- JSON with bare big integers ----
function big(n) { return { __big: BigInt(n).toString() }; }
function stringify(v) {
  return JSON.stringify(v, (k, x) => {
    if (typeof x === 'bigint') return `\u0000big${x.toString()}\u0000`;
    if (x && typeof x === 'object' && typeof x.__big === 'string') return `\u0000big${x.__big}\u0000`;
    return x;
  }).replace(/"\\u0000big(-?\d+)\\u0000"/g, '$1');
}

// rawID returns the text of the top-level "id" member of a JSON object exactly as written, so
// 63-bit ids survive (JSON.parse would round them to doubles).
function rawID(text) {
  let depth = 0; let i = 0; let expectKey = false; let key = null;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const s = text.slice(i, j + 1);
      if (depth === 1 && expectKey) { key = JSON.parse(s); expectKey = false; }
      i = j + 1; continue;
    }
    if (c === '{' || c === '[') { depth++; if (depth === 1 && c === '{') expectKey = true; i++; continue; }
    if (c === '}' || c === ']') { depth--; i++; continue; }
    if (c === ',' && depth === 1) { expectKey = true; i++; continue; }
    if (c === ':' && depth === 1 && key === 'id') {
      let j = i + 1; while (/\s/.test(text[j])) j++;
      let k = j;
      if (text[k] === '"') { k++; while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1; k++; }
      else { while (k < text.length && !/[,}\s]/.test(text[k])) k++; }
      return text.slice(j, k);
    }
    if (c === ':' && depth === 1) key = null;
    i++;
  }
  return 'null';
}

function rpcError(code, message, data) { const e = new Error(message); e.rpc = { code, message, data }; return e; }

// ---- transaction parsing ----
function shortvec(buf, off) {
  let len = 0; let size = 0;
  for (;;) {
    if (off + size >= buf.length) throw rpcError(-32602, 'failed to deserialize transaction: short vector');
    const b = buf[off + size]; len |= (b & 0x7f) << (7 * size); size++;
    if ((b & 0x80) === 0) break;
    if (size > 3) throw rpcError(-32602, 'failed to deserialize transaction: short vector');
  }
  return [len, off + size];
}
function parseTransaction(raw) {
  const [nsig, o1] = shortvec(raw, 0);
  if (nsig === 0) throw rpcError(-32602, 'failed to deserialize transaction: no signatures');
  const sigStart = o1; const msgStart = o1 + 64 * nsig;
  if (msgStart >= raw.length) throw rpcError(-32602, 'failed to deserialize transaction: truncated');
  const msg = raw.subarray(msgStart);
  const signature = b58encode(raw.subarray(sigStart, sigStart + 64));
  let p = 0; let version = 'legacy';
  if (msg[0] & 0x80) { version = msg[0] & 0x7f; p = 1; }
  const header = { numRequiredSignatures: msg[p], numReadonlySigned: msg[p + 1], numReadonlyUnsigned: msg[p + 2] };
  p += 3;
  let nkeys; [nkeys, p] = shortvec(msg, p);
  const keys = [];
  for (let k = 0; k < nkeys; k++, p += 32) keys.push(b58encode(msg.subarray(p, p + 32)));
  const blockhash = b58encode(msg.subarray(p, p + 32)); p += 32;
  let nix; [nix, p] = shortvec(msg, p);
  const instructions = [];
  for (let k = 0; k < nix; k++) {
    const programIndex = msg[p++];
    let na; [na, p] = shortvec(msg, p);
    const accounts = Array.from(msg.subarray(p, p + na)); p += na;
    let nd; [nd, p] = shortvec(msg, p);
    const data = msg.subarray(p, p + nd); p += nd;
    instructions.push({ programIndex, accounts, data });
  }
  const lookups = [];
  if (version !== 'legacy') {
    let nl; [nl, p] = shortvec(msg, p);
    for (let k = 0; k < nl; k++) {
      const table = b58encode(msg.subarray(p, p + 32)); p += 32;
      let nw; [nw, p] = shortvec(msg, p); const writable = Array.from(msg.subarray(p, p + nw)); p += nw;
      let nr; [nr, p] = shortvec(msg, p); const readonly = Array.from(msg.subarray(p, p + nr)); p += nr;
      lookups.push({ table, writable, readonly });
    }
  }
  return { signature, version, header, keys, blockhash, instructions, lookups, msg };
}

// ---- the chain ----
class Chain {
  constructor() {
    this.svm = new LiteSvm();
    this.blockHeight = 1000n;
    this.lastValid = this.blockHeight + 150n;
    this.statuses = new Map(); // signature → {slot, err, logs, units, raw, version, memo, fee, blockTime}
    this.byAddress = new Map(); // address → [signature] in execution order
    this.waiters = new Map(); // signature → [fn(status)]
    this.transactionCount = 0n;
  }

  slot() { return this.svm.getClock().slot; }

  // observedSlot returns the current slot after making sure the SlotHashes sysvar lists it, so a
  // slot read over RPC can serve as recent_slot (e.g. CreateLookupTable). Done lazily: keeping
  // SlotHashes current on every transaction costs ≈ 0.2 ms.
  observedSlot() {
    const s = this.slot();
    const hs = this.svm.getSlotHashes();
    if (hs.length === 0 || hs[0].slot !== s) {
      const next = [{ slot: s, hash: this.svm.latestBlockhash() }, ...hs.map((h) => ({ slot: h.slot, hash: h.hash }))].slice(0, 512);
      this.svm.setSlotHashes(next);
    }
    return s;
  }
  context() { return { slot: this.slot(), apiVersion: '2.2.0' }; }

  expireBlockhash() {
    this.svm.expireBlockhash();
    this.blockHeight = this.lastValid + 1n;
    this.lastValid = this.blockHeight + 150n;
    this.svm.warpToSlot(this.slot() + 151n);
  }

  errorJSON(e) {
    if (typeof e === 'number') return TX_ERRORS[e] || `Unknown(${e})`;
    const name = e.constructor && e.constructor.name;
    if (name === 'TransactionErrorInstructionError') {
      const ie = e.err();
      let inner;
      if (typeof ie === 'number') inner = IX_ERRORS[ie] || `Unknown(${ie})`;
      else if (ie.constructor.name === 'InstructionErrorCustom') inner = { Custom: ie.code };
      else inner = { BorshIoError: ie.msg };
      return { InstructionError: [e.index, inner] };
    }
    if (name === 'TransactionErrorDuplicateInstruction') return { DuplicateInstruction: e.index };
    if (name === 'TransactionErrorInsufficientFundsForRent') return { InsufficientFundsForRent: { account_index: e.accountIndex } };
    if (name === 'TransactionErrorProgramExecutionTemporarilyRestricted') return { ProgramExecutionTemporarilyRestricted: { account_index: e.accountIndex } };
    return String(e);
  }

  describe(err) {
    if (typeof err === 'string') return err;
    if (err.InstructionError) {
      const [i, ie] = err.InstructionError;
      if (ie.Custom !== undefined) return `Error processing Instruction ${i}: custom program error: 0x${ie.Custom.toString(16)}`;
      return `Error processing Instruction ${i}: ${typeof ie === 'string' ? ie : JSON.stringify(ie)}`;
    }
    return JSON.stringify(err);
  }

  // resolve lists every account of the transaction, static and loaded from lookup tables.
  resolve(tx) {
    const all = [...tx.keys];
    for (const l of tx.lookups) {
      const acc = this.svm.getAccount(b58decode(l.table, 32));
      if (!acc) continue;
      const d = acc.data();
      for (const idx of [...l.writable, ...l.readonly]) {
        const off = 56 + 32 * idx;
        if (off + 32 <= d.length) all.push(b58encode(d.subarray(off, off + 32)));
      }
    }
    return all;
  }

  memoOf(tx) {
    const parts = [];
    for (const ix of tx.instructions) {
      if (MEMO_PROGRAMS.has(tx.keys[ix.programIndex])) {
        const text = Buffer.from(ix.data).toString('utf8');
        parts.push(`[${ix.data.length}] ${text}`);
      }
    }
    return parts.length ? parts.join('; ') : null;
  }

  // nonceNeedsNewSlot reports whether tx is a durable-nonce transaction (first instruction
  // System AdvanceNonceAccount) whose nonce was stored from the current blockhash. The
  // runtime accepts a nonce only once the blockhash has moved on; a cluster moves it every
  // slot, while litesvm keeps one blockhash until it is expired. So the server expires it
  // first, as the next slot would (in-flight transactions signed with it are re-signed by
  // their senders after the jump in block height).
  nonceNeedsNewSlot(tx) {
    const ix = tx.instructions[0];
    if (!ix || tx.keys[ix.programIndex] !== SYSTEM_PROGRAM) return false;
    if (ix.data.length !== 4 || Buffer.from(ix.data).readUInt32LE(0) !== 4) return false;
    const current = crypto.createHash('sha256').update(Buffer.from('DURABLE_NONCE')).update(b58decode(this.svm.latestBlockhash(), 32)).digest();
    return b58encode(current) === tx.blockhash;
  }

  run(raw, tx, simulate) {
    if (this.nonceNeedsNewSlot(tx)) this.expireBlockhash();
    const r = tx.version === 'legacy'
      ? (simulate ? this.svm.simulateLegacyTransaction(raw) : this.svm.sendLegacyTransaction(raw))
      : (simulate ? this.svm.simulateVersionedTransaction(raw) : this.svm.sendVersionedTransaction(raw));
    const failed = r.constructor.name === 'FailedTransactionMetadata';
    const meta = typeof r.meta === 'function' ? r.meta() : r;
    return {
      err: failed ? this.errorJSON(r.err()) : null,
      logs: meta.logs(),
      units: meta.computeUnitsConsumed(),
    };
  }

  record(signature, st, addresses) {
    this.statuses.set(signature, st);
    this.transactionCount++;
    for (const a of new Set(addresses)) {
      let l = this.byAddress.get(a);
      if (!l) { l = []; this.byAddress.set(a, l); }
      l.push(signature);
    }
    const ws = this.waiters.get(signature);
    if (ws) { this.waiters.delete(signature); for (const f of ws) f(st); }
  }

  sendTransaction(params) {
    const [data, cfg = {}] = params;
    const enc = cfg.encoding || 'base58';
    const raw = enc === 'base64' ? Buffer.from(String(data), 'base64') : Buffer.from(b58decode(data));
    if (raw.length > PACKET_DATA_SIZE) {
      throw rpcError(-32602, `${enc} encoded solana_transaction::versioned::VersionedTransaction too large: ${raw.length} bytes (max: encoded/raw ${Math.ceil(PACKET_DATA_SIZE / 3) * 4}/${PACKET_DATA_SIZE})`);
    }
    const tx = parseTransaction(raw);
    const known = this.statuses.has(tx.signature);
    if (!cfg.skipPreflight) {
      const sim = known ? { err: 'AlreadyProcessed', logs: [], units: 0n } : this.run(raw, tx, true);
      if (sim.err !== null) {
        if (sim.err === 'SignatureFailure') throw rpcError(-32003, 'Transaction signature verification failure');
        throw rpcError(-32002, `Transaction simulation failed: ${this.describe(sim.err)}`, {
          accounts: null, err: sim.err, innerInstructions: null, logs: sim.logs,
          replacementBlockhash: null, returnData: null, unitsConsumed: sim.units,
        });
      }
    } else if (known) {
      return tx.signature; // a duplicate is accepted and dropped, as by a real leader
    }
    const res = this.run(raw, tx, false);
    if (res.err !== null && typeof res.err === 'string' && NOT_LANDED.has(res.err)) {
      if (res.err === 'SignatureFailure' && !cfg.skipPreflight) throw rpcError(-32003, 'Transaction signature verification failure');
      return tx.signature; // accepted by the RPC node, never lands
    }
    const slot = this.slot();
    this.record(tx.signature, {
      slot, err: res.err, logs: res.logs, units: res.units, raw: raw.toString('base64'),
      version: tx.version, memo: this.memoOf(tx), fee: LAMPORTS_PER_SIGNATURE * BigInt(tx.header.numRequiredSignatures),
      blockTime: Math.floor(Date.now() / 1000),
    }, this.resolve(tx));
    this.svm.warpToSlot(slot + 1n); // the next transaction lands in a later slot (lookup tables activate)
    return tx.signature;
  }

  simulateTransaction(params) {
    const [data, cfg = {}] = params;
    const enc = cfg.encoding || 'base58';
    const raw = enc === 'base64' ? Buffer.from(String(data), 'base64') : Buffer.from(b58decode(data));
    if (raw.length > PACKET_DATA_SIZE) throw rpcError(-32602, `transaction too large: ${raw.length} bytes (max ${PACKET_DATA_SIZE})`);
    const tx = parseTransaction(raw);
    const sim = this.statuses.has(tx.signature) ? { err: 'AlreadyProcessed', logs: [], units: 0n } : this.run(raw, tx, true);
    return { context: this.context(), value: { err: sim.err, logs: sim.logs, accounts: null, unitsConsumed: sim.units, returnData: null, innerInstructions: null, replacementBlockhash: null } };
  }

  accountJSON(addr) {
    const a = this.svm.getAccount(b58decode(addr, 32));
    if (!a) return null;
    const d = a.data();
    return {
      data: [Buffer.from(d).toString('base64'), 'base64'], executable: a.executable(),
      lamports: a.lamports(), owner: b58encode(a.owner()), rentEpoch: U64_MAX, space: d.length,
    };
  }

  tokenAmount(amount, decimals) {
    const s = amount.toString().padStart(decimals + 1, '0');
    const ui = decimals ? `${s.slice(0, s.length - decimals)}.${s.slice(s.length - decimals)}`.replace(/\.?0+$/, '') : s;
    return { amount: amount.toString(), decimals, uiAmount: Number(ui), uiAmountString: ui };
  }

  tokenData(addr, want) {
    const a = this.svm.getAccount(b58decode(addr, 32));
    if (!a) throw rpcError(-32602, `Invalid param: could not find ${want === 165 ? 'account' : 'mint'}`);
    const d = Buffer.from(a.data());
    if (d.length < want) throw rpcError(-32602, `Invalid param: not a Token ${want === 165 ? 'account' : 'mint'}`);
    return d;
  }

  statusJSON(st) {
    return { slot: st.slot, confirmations: null, err: st.err, status: st.err === null ? { Ok: null } : { Err: st.err }, confirmationStatus: 'finalized' };
  }
}

// ---- method table ----
function methods(chain) {
  const svm = chain.svm;
  const ctx = () => chain.context();
  return {
    getHealth: () => 'ok',
    getVersion: () => ({ 'solana-core': '2.2.0', 'feature-set': 0 }),
    getSlot: () => chain.observedSlot(),
    getBlockHeight: () => chain.blockHeight,
    getTransactionCount: () => chain.transactionCount,
    getEpochInfo: () => {
      const c = svm.getClock();
      return { absoluteSlot: chain.observedSlot(), blockHeight: chain.blockHeight, epoch: c.epoch, slotIndex: c.slot % 432000n, slotsInEpoch: 432000, transactionCount: chain.transactionCount };
    },
    getGenesisHash: () => 'EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG',
    getLatestBlockhash: () => ({ context: ctx(), value: { blockhash: svm.latestBlockhash(), lastValidBlockHeight: chain.lastValid } }),
    isBlockhashValid: ([h]) => ({ context: ctx(), value: h === svm.latestBlockhash() }),
    getBalance: ([a]) => ({ context: ctx(), value: svm.getBalance(b58decode(a, 32)) ?? 0n }),
    getMinimumBalanceForRentExemption: ([n]) => svm.minimumBalanceForRentExemption(BigInt(n || 0)),
    getAccountInfo: ([a, cfg = {}]) => {
      if (cfg.encoding && cfg.encoding !== 'base64') throw rpcError(-32602, `Invalid param: encoding ${cfg.encoding} is not supported by localnet (use base64)`);
      return { context: ctx(), value: chain.accountJSON(a) };
    },
    getMultipleAccounts: ([as, cfg = {}]) => {
      if (cfg.encoding && cfg.encoding !== 'base64') throw rpcError(-32602, `Invalid param: encoding ${cfg.encoding} is not supported by localnet (use base64)`);
      if (!Array.isArray(as) || as.length > 100) throw rpcError(-32602, 'Invalid param: expected at most 100 addresses');
      return { context: ctx(), value: as.map((a) => chain.accountJSON(a)) };
    },
    getTokenAccountBalance: ([a]) => {
      const d = chain.tokenData(a, 165);
      const mint = chain.tokenData(b58encode(d.subarray(0, 32)), 82);
      return { context: ctx(), value: chain.tokenAmount(d.readBigUInt64LE(64), mint[44]) };
    },
    getTokenSupply: ([m]) => {
      const d = chain.tokenData(m, 82);
      return { context: ctx(), value: chain.tokenAmount(d.readBigUInt64LE(36), d[44]) };
    },
    requestAirdrop: ([a, lamports]) => {
      const r = svm.airdrop(b58decode(a, 32), BigInt(lamports));
      if (!r) throw rpcError(-32603, 'airdrop failed');
      const failed = r.constructor.name === 'FailedTransactionMetadata';
      const meta = failed ? r.meta() : r;
      const sig = b58encode(meta.signature());
      if (failed) throw rpcError(-32603, `airdrop failed: ${JSON.stringify(chain.errorJSON(r.err()))}`);
      chain.record(sig, { slot: chain.slot(), err: null, logs: meta.logs(), units: meta.computeUnitsConsumed(), raw: null, version: 'legacy', memo: null, fee: 0n, blockTime: Math.floor(Date.now() / 1000) }, [a]);
      return sig;
    },
    sendTransaction: (p) => chain.sendTransaction(p),
    simulateTransaction: (p) => chain.simulateTransaction(p),
    getSignatureStatuses: ([sigs]) => {
      if (!Array.isArray(sigs) || sigs.length > 256) throw rpcError(-32602, 'Invalid param: expected at most 256 signatures');
      return { context: ctx(), value: sigs.map((s) => { const st = chain.statuses.get(s); return st ? chain.statusJSON(st) : null; }) };
    },
    getSignaturesForAddress: ([a, cfg = {}]) => {
      b58decode(a, 32);
      const list = chain.byAddress.get(a) || [];
      const limit = Math.min(Number(cfg.limit || 1000), 1000);
      let i = list.length - 1;
      if (cfg.before) { const k = list.lastIndexOf(cfg.before); if (k >= 0) i = k - 1; }
      const out = [];
      for (; i >= 0 && out.length < limit; i--) {
        if (cfg.until && list[i] === cfg.until) break;
        const st = chain.statuses.get(list[i]);
        out.push({ signature: list[i], slot: st.slot, err: st.err, memo: st.memo, blockTime: st.blockTime, confirmationStatus: 'finalized' });
      }
      return out;
    },
    getTransaction: ([sig, cfg = {}]) => {
      const st = chain.statuses.get(sig);
      if (!st || st.raw === null) return null;
      if (st.version !== 'legacy' && (cfg.maxSupportedTransactionVersion === undefined || cfg.maxSupportedTransactionVersion < st.version)) {
        throw rpcError(-32015, `Transaction version (${st.version}) is not supported by the requesting client. Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": ${st.version}`);
      }
      if (cfg.encoding && cfg.encoding !== 'base64') throw rpcError(-32602, `Invalid param: encoding ${cfg.encoding} is not supported by localnet (use base64)`);
      return {
        slot: st.slot, blockTime: st.blockTime, version: st.version,
        transaction: [st.raw, 'base64'],
        meta: {
          err: st.err, status: st.err === null ? { Ok: null } : { Err: st.err }, fee: st.fee,
          preBalances: [], postBalances: [], innerInstructions: [], logMessages: st.logs,
          preTokenBalances: [], postTokenBalances: [], rewards: [], computeUnitsConsumed: st.units,
          loadedAddresses: { writable: [], readonly: [] },
        },
      };
    },
    getFeeForMessage: ([m]) => {
      const msg = Buffer.from(String(m), 'base64');
      const n = msg[0] & 0x80 ? msg[1] : msg[0];
      return { context: ctx(), value: LAMPORTS_PER_SIGNATURE * BigInt(n) };
    },
    litesvm_expireBlockhash: () => {
      chain.expireBlockhash();
      return { blockhash: svm.latestBlockhash(), lastValidBlockHeight: chain.lastValid, blockHeight: chain.blockHeight };
    },
    litesvm_warpToSlot: ([s]) => {
      const slot = BigInt(s);
      if (slot < chain.slot()) throw rpcError(-32602, 'Invalid param: cannot warp backwards');
      svm.warpToSlot(slot);
      // On a cluster, slots more than 512 behind have left SlotHashes; lookup-table
      // deactivation cooldowns are measured by that.
      const hs = svm.getSlotHashes();
      const kept = hs.filter((h) => h.slot + 512n > slot);
      if (kept.length !== hs.length) svm.setSlotHashes(kept.map((h) => ({ slot: h.slot, hash: h.hash })));
      return chain.slot();
    },
    litesvm_setAccount: ([a, acc]) => {
      svm.setAccount(b58decode(a, 32), new Account(BigInt(acc.lamports), Buffer.from(acc.data || '', 'base64'), b58decode(acc.owner, 32), !!acc.executable, 0n));
      return null;
    },
    litesvm_addProgram: ([id, so]) => { svm.addProgram(b58decode(id, 32), Buffer.from(so, 'base64')); return null; },
    litesvm_save: ([path]) => { fs.writeFileSync(path, svm.toBytes()); return null; },
  };
}

function handle(table, text) {
  let req;
  const id = rawID(text);
  try {
    req = JSON.parse(text);
  } catch {
    return `{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}`;
  }
  if (Array.isArray(req) || typeof req !== 'object' || req === null || typeof req.method !== 'string') {
    return `{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid request"},"id":${id}}`;
  }
  const f = table[req.method];
  if (!f) return `{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":${id}}`;
  try {
    const result = f(Array.isArray(req.params) ? req.params : []);
    return `{"jsonrpc":"2.0","result":${stringify(result === undefined ? null : result)},"id":${id}}`;
  } catch (e) {
    const err = e.rpc || { code: -32603, message: `Internal error: ${e.message}` };
    const body = { code: err.code, message: err.message };
    if (err.data !== undefined) body.data = err.data;
    return `{"jsonrpc":"2.0","error":${stringify(body)},"id":${id}}`;
  }
}

function pubsub(chain, wss) {
  let next = 1;
  wss.on('connection', (sock) => {
    const subs = new Map(); // subId → signature
    sock.on('message', (data) => {
      const text = data.toString('utf8');
      const id = rawID(text);
      let req;
      try { req = JSON.parse(text); } catch { sock.send(`{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}`); return; }
      const params = Array.isArray(req.params) ? req.params : [];
      if (req.method === 'signatureSubscribe') {
        const sig = params[0]; const sub = next++;
        subs.set(sub, sig);
        sock.send(`{"jsonrpc":"2.0","result":${sub},"id":${id}}`);
        const notify = (st) => {
          if (!subs.has(sub)) return;
          subs.delete(sub);
          if (sock.readyState !== sock.OPEN) return;
          sock.send(stringify({ jsonrpc: '2.0', method: 'signatureNotification', params: { result: { context: { slot: st.slot }, value: { err: st.err } }, subscription: sub } }));
        };
        const st = chain.statuses.get(sig);
        if (st) notify(st);
        else { let l = chain.waiters.get(sig); if (!l) { l = []; chain.waiters.set(sig, l); } l.push(notify); }
      } else if (req.method === 'signatureUnsubscribe') {
        const ok = subs.delete(Number(params[0]));
        sock.send(`{"jsonrpc":"2.0","result":${ok},"id":${id}}`);
      } else {
        sock.send(`{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":${id}}`);
      }
    });
    sock.on('close', () => subs.clear());
  });
}

function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    const onErr = (e) => { server.removeListener('listening', onOk); reject(e); };
    const onOk = () => { server.removeListener('error', onErr); resolve(server.address().port); };
    server.once('error', onErr); server.once('listening', onOk);
    server.listen(port, host);
  });
}

async function main() {
  const args = process.argv.slice(2);
  let port = 0; let host = '127.0.0.1'; let stdinEOF = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--port') port = Number(args[++i]);
    else if (args[i] === '--host') host = args[++i];
    else if (args[i] === '--exit-on-stdin-eof') stdinEOF = true;
    else { process.stderr.write(`unknown argument ${args[i]}\n`); process.exit(2); }
  }
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) { process.stderr.write('localnet binds loopback only\n'); process.exit(2); }
  if (!Number.isInteger(port) || port < 0 || port > 65534) { process.stderr.write('bad --port\n'); process.exit(2); }

  const chain = new Chain();
  const table = methods(chain);
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST') { res.writeHead(405); res.end(); return; }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const out = handle(table, Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  server.keepAliveTimeout = 60000;

  let wsPort; let wss;
  for (let attempt = 0; ; attempt++) {
    const p = await listen(server, port, host);
    try {
      wss = new WebSocketServer({ host, port: p + 1 });
      await new Promise((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject); });
      port = p; wsPort = p + 1; break;
    } catch (e) {
      await new Promise((r) => server.close(r));
      if (wss) wss.close();
      if (port !== 0 || attempt > 50) throw e;
      wss = undefined;
    }
  }
  pubsub(chain, wss);
  const shown = host.includes(':') ? `[${host}]` : host;
  process.stdout.write(`${JSON.stringify({ rpc: `http://${shown}:${port}`, ws: `ws://${shown}:${wsPort}`, pid: process.pid })}\n`);

  const stop = () => { wss.close(); server.close(); server.closeAllConnections(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (stdinEOF) { process.stdin.on('end', stop); process.stdin.on('error', stop); process.stdin.resume(); }
}

main().catch((e) => { process.stderr.write(`localnet: ${e.stack || e}\n`); process.exit(1); });
