// Repeat the reference suite's "Readed recipient if sender logged" N times against a running
// server; count the runs where the push to the sender arrived after the reply to the reader.
// NODE_PATH=<fun-chat-server>/node_modules node bench/socket_order.js ws://127.0.0.1:4000 300
const { WebSocket } = require('ws');
const url = process.argv[2]; const N = +process.argv[3] || 100;
const open = () => new Promise((res) => { const ws = new WebSocket(url); ws.on('open', () => res(ws)); });
const until = (arr, n) => new Promise((res) => { const id = setInterval(() => { if (arr.length >= n) { clearInterval(id); res(); } }, 1); });
(async () => {
  let swapped = 0;
  for (let i = 0; i < N; i++) {
    const a = await open(), b = await open(), got = [];
    a.on('message', (m) => got.push(JSON.parse(m)));
    b.on('message', (m) => got.push(JSON.parse(m)));
    const la = 'ua' + i + Math.random(), lb = 'ub' + i + Math.random();
    a.send(JSON.stringify({ id: '1', type: 'USER_LOGIN', payload: { user: { login: la, password: 'p' } } }));
    b.send(JSON.stringify({ id: '2', type: 'USER_LOGIN', payload: { user: { login: lb, password: 'p' } } }));
    await until(got, 3);
    a.send(JSON.stringify({ id: '3', type: 'MSG_SEND', payload: { message: { to: lb, text: 'hi' } } }));
    await until(got, 5);
    b.send(JSON.stringify({ id: '90', type: 'MSG_READ', payload: { message: { id: got[3].payload.message.id } } }));
    await until(got, 7);
    if (got[5].id !== null) swapped++;
    a.close(); b.close();
  }
  console.log(`${url}: ${swapped} of ${N} reversed`);
  process.exit(0);
})();
