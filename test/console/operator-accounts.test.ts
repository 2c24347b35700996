import { afterEach, describe, expect, it } from "vitest";
import { createTestStore, storeKinds, type TestStore } from "../bridge/helpers/test-stores.ts";

describe.each(storeKinds)("operator accounts on %s", (kind) => {
  let test: TestStore | undefined;
  afterEach(async () => {
    await test?.cleanup();
    test = undefined;
  });

  it("adds, replaces the hash of, lists and removes operators", async () => {
    test = await createTestStore(kind);
    const { store } = test;
    await store.putOperator("bob", "scrypt$hash-1", 1_000);
    await store.putOperator("alice", "scrypt$hash-2", 2_000);
    await store.putOperator("bob", "scrypt$hash-3", 3_000);
    expect(await store.getOperator("bob")).toEqual({
      name: "bob",
      passwordHash: "scrypt$hash-3",
      createdAt: 1_000,
      updatedAt: 3_000,
    });
    expect((await store.listOperators()).map((operator) => operator.name)).toEqual(["alice", "bob"]);
    expect(await store.deleteOperator("bob")).toBe(true);
    expect(await store.deleteOperator("bob")).toBe(false);
    expect(await store.getOperator("bob")).toBeUndefined();
  });
});
