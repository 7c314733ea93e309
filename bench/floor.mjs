// The engine-floor shape on aws-local-stepfunctions: run by bench/engine_floor.py, which writes
// the definition and reads one JSON line back. The Lambda task is answered by a no-op local
// handler shaped like a lambda:invoke result, so only the interpreter's own cost is measured.
// aws-local-stepfunctions 3.0.0 (the only version the registry serves) declares node >= 22 and
// calls Promise.withResolvers, which node 20 lacks: supply the standard definition when missing.
import { readFileSync } from 'node:fs';

if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = () => {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
const { StateMachine } = await import('aws-local-stepfunctions');

const [definitionPath, itemsArg, taskState, warmUpArg] = process.argv.slice(2);
const definition = JSON.parse(readFileSync(definitionPath, 'utf8'));
const count = Number(itemsArg);
const items = Array.from({ length: count }, (_, i) => ({ i }));
const warmUp = Number(warmUpArg);

const machine = new StateMachine(definition, { validationOptions: { checkPaths: false } });
const options = {
  overrides: {
    taskResourceLocalHandlers: {
      [taskState]: async (input) => ({ StatusCode: 200, Payload: input.Payload }),
    },
  },
};
// Warm up in this process (as the Python engines do), then time one run.
await machine.run({ items: items.slice(0, warmUp) }, options).result;
const started = process.hrtime.bigint();
const result = await machine.run({ items }, options).result;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const done = Array.isArray(result) ? result.length : 0;
process.stdout.write(JSON.stringify({ items: done, seconds }) + '\n');
