import { describe, expect, it } from "vitest";
import { redactArgv } from "./argv.ts";
import { redactText } from "./index.ts";

const R = "[REDACTED:cli-credential]";

describe("redactArgv", () => {
  it.each([
    [
      ["sshpass", "-p", "Xy7#kL9!mQ2$vBq8", "ssh", "host"],
      ["sshpass", "-p", R, "ssh", "host"],
    ],
    [
      ["sshpass", "-pXy7#kL9"],
      ["sshpass", `-p${R}`],
    ],
    [
      ["docker", "login", "-p", "pw pw", "r"],
      ["docker", "login", "-p", R, "r"],
    ],
    [
      ["docker", "run", "-p", "8080:80", "img"],
      ["docker", "run", "-p", "8080:80", "img"],
    ],
    [
      ["docker", "run", "-e", "DB_PASSWORD=weak", "-e", "MODE=x", "img"],
      ["docker", "run", "-e", `DB_PASSWORD=${R}`, "-e", "MODE=x", "img"],
    ],
    [
      ["mysql", "-pSECRET'1", "db"],
      ["mysql", `-p${R}`, "db"],
    ],
    [
      ["mysql", "-p", "db"],
      ["mysql", "-p", "db"],
    ],
    [
      ["sudo", "mysql", "-u", "root", "-pX1"],
      ["sudo", "mysql", "-u", "root", `-p${R}`],
    ],
    [
      ["redis-cli", "-a", "pw", "ping"],
      ["redis-cli", "-a", R, "ping"],
    ],
    [
      ["ldapsearch", "-w", "pw", "-D", "cn=x"],
      ["ldapsearch", "-w", R, "-D", "cn=x"],
    ],
    [
      ["smbclient", "-U", "u%pw", "//h/s"],
      ["smbclient", "-U", `u%${R}`, "//h/s"],
    ],
    [
      ["smbclient", "-Uu%pw"],
      ["smbclient", `-Uu%${R}`],
    ],
    [
      ["smbclient", "-U", "guest", "//h/s"],
      ["smbclient", "-U", "guest", "//h/s"],
    ],
    [
      ["openssl", "enc", "-k", "pw"],
      ["openssl", "enc", "-k", R],
    ],
    [
      ["openssl", "pkcs12", "-passin", "pass:pw", "-passout", "env:X"],
      ["openssl", "pkcs12", "-passin", `pass:${R}`, "-passout", "env:X"],
    ],
    [
      ["zip", "-P", "pw", "a.zip"],
      ["zip", "-P", R, "a.zip"],
    ],
    [
      ["7z", "x", "-ppw", "a.7z"],
      ["7z", "x", `-p${R}`, "a.7z"],
    ],
    [
      ["kubectl", "create", "secret", "generic", "s", "--from-literal=password=pw"],
      ["kubectl", "create", "secret", "generic", "s", `--from-literal=password=${R}`],
    ],
    [
      ["htpasswd", "-b", "f", "u", "pw"],
      ["htpasswd", "-b", "f", "u", R],
    ],
    [
      ["xfreerdp", "/u:me", "/p:pw", "/v:h"],
      ["xfreerdp", "/u:me", `/p:${R}`, "/v:h"],
    ],
    [
      ["anything", "--db-password", "pw", "--token=t0k"],
      ["anything", "--db-password", R, `--token=${R}`],
    ],
    [
      ["docker", "login", "--password-stdin", "r"],
      ["docker", "login", "--password-stdin", "r"],
    ],
    [
      ["psql", "--no-password", "db"],
      ["psql", "--no-password", "db"],
    ],
    [
      ["ls", "-la", "/tmp"],
      ["ls", "-la", "/tmp"],
    ],
  ])("%j", (argv, expected) => {
    expect(redactArgv(argv)).toEqual(expected);
  });
});

describe("command lines in a text", () => {
  it.each([
    ["redis-cli -a r3dis!pw ping", "r3dis!pw"],
    ["$ ldapsearch -x -w 'ld@p pw' -D cn=admin", "ld@p pw"],
    ["smbclient -U user%sm8pw! //h/s", "sm8pw!"],
    ["openssl enc -aes-256-cbc -k 0penssl!pw -in x", "0penssl!pw"],
    ["zip -P z1ppw# x.zip y && echo ok", "z1ppw#"],
    ["7z a -p7zs3cret x.7z", "7zs3cret"],
    ["htpasswd -b .htpasswd alice Al1cePw", "Al1cePw"],
    ["sudo mysql -u root -p'Sw0rd fish' shop", "Sw0rd fish"],
  ])("%s", (line, secret) => {
    const out = redactText(line);
    expect(out).not.toContain(secret);
    expect(out).toContain("[REDACTED:cli-credential]");
  });

  it("leaves commands without a secret option alone", () => {
    for (const line of [
      "zip -r out.zip dir",
      "redis-cli ping",
      "docker run -p 8080:80 img",
      "openssl x509 -in c.pem -noout",
    ])
      expect(redactText(line)).toBe(line);
  });
});
