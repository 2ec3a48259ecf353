"""A pool of smtplib clients sending mail to a small threaded SMTP server.

    python tests/scripts/smtp_pool.py            # natively
    python -m greenthreads tests/scripts/smtp_pool.py

smtplib names itself with ``socket.getfqdn()`` on every connection, which
runs the resolver: more concurrent clients than resolver workers once hung
every green thread.  Prints what both runs must agree on.
"""

import concurrent.futures
import email.message
import smtplib
import socketserver
import threading


class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib's send_message: EHLO, MAIL, RCPT, DATA, QUIT."""

    def reply(self, line):
        self.wfile.write(line.encode() + b'\r\n')

    def handle(self):
        self.reply('220 localhost ready')
        sender, recipients = None, []
        for raw in self.rfile:
            command = raw.decode().rstrip('\r\n')
            verb = command[:4].upper()
            if verb == 'EHLO':
                self.reply('250-localhost\r\n250 8BITMIME')
            elif verb == 'MAIL':
                sender, recipients = command[10:], []
                self.reply('250 OK')
            elif verb == 'RCPT':
                recipients.append(command[8:])
                self.reply('250 OK')
            elif verb == 'DATA':
                self.reply('354 go ahead')
                lines = []
                for data in self.rfile:
                    if data == b'.\r\n':
                        break
                    lines.append(data.decode().rstrip('\r\n'))
                subject = next(line for line in lines if line.startswith('Subject:'))
                self.server.received(f'{sender} -> {",".join(recipients)}: {subject}')
                self.reply('250 queued')
            elif verb == 'QUIT':
                self.reply('221 bye')
                return
            else:
                self.reply('502 unknown')


class SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    # SMTP servers speak first.  A client whose connection arrives when the
    # listen queue is full (socketserver's default holds 5) can be left
    # half-open with SYN cookies: the client thinks it is connected and waits
    # for the greeting for ever.  Real threads accept while others connect;
    # 16 green clients all connect before the server's thread runs again.
    request_queue_size = 64

    def __init__(self, *args):
        super().__init__(*args)
        self.messages = []
        self._lock = threading.Lock()

    def received(self, summary):
        with self._lock:
            self.messages.append(summary)


def main(clients=30, workers=16, messages=3):
    server = SMTPServer(('127.0.0.1', 0), SMTPHandler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def send(n):
        with smtplib.SMTP('127.0.0.1', port, timeout=30) as client:
            for i in range(messages):
                msg = email.message.EmailMessage()
                msg['From'] = f'client{n}@example.org'
                msg['To'] = f'user{i}@example.org'
                msg['Subject'] = f'message {n}.{i}'
                msg.set_content('hello\n' * n)
                client.send_message(msg)
        return n

    # More clients at once than the resolver has workers.
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        done = list(pool.map(send, range(clients)))
    server.shutdown()
    server.server_close()
    print(len(done), 'clients done')
    print(len(server.messages), 'messages received')
    print('\n'.join(sorted(server.messages)))


if __name__ == '__main__':
    main()
