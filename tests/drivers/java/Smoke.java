/*
 * Smoke check of the DataStax Java driver 3.x through the sidecar with frame compression.
 *
 *   java -cp '<cassandra lib>/*:<classes>' Smoke <host> <port> <protocol: 3|4> <compression: snappy|lz4|none>
 *
 * The driver (cassandra-driver-core 3.12.1, shaded) and both compression libraries (snappy-java,
 * lz4-java) are among the jars Cassandra 5.0 itself runs on, so the local back ends provide them.
 * Prints one JSON summary line; exit 0 when every check passed, 1 otherwise.
 */
import com.datastax.driver.core.BoundStatement;
import com.datastax.driver.core.Cluster;
import com.datastax.driver.core.PreparedStatement;
import com.datastax.driver.core.ProtocolOptions;
import com.datastax.driver.core.ProtocolVersion;
import com.datastax.driver.core.QueryOptions;
import com.datastax.driver.core.ResultSet;
import com.datastax.driver.core.Row;
import com.datastax.driver.core.Session;
import com.datastax.driver.core.SimpleStatement;

public final class Smoke {
  private static String stage = "arguments";

  public static void main(String[] args) {
    Cluster cluster = null;
    try {
      String host = args[0];
      int port = Integer.parseInt(args[1]);
      ProtocolVersion version = args[2].equals("3") ? ProtocolVersion.V3 : ProtocolVersion.V4;
      ProtocolOptions.Compression compression = ProtocolOptions.Compression.valueOf(args[3].toUpperCase());
      stage = "connect";
      cluster = Cluster.builder()
          .addContactPoint(host).withPort(port)
          .withProtocolVersion(version)
          .withCompression(compression)
          // schema metadata is not what is checked here (and the shared back ends hold types
          // this driver generation cannot parse)
          .withQueryOptions(new QueryOptions().setMetadataEnabled(false))
          .withoutJMXReporting().withoutMetrics()
          .build();
      Session session = cluster.connect();
      stage = "schema";
      session.execute("CREATE KEYSPACE IF NOT EXISTS cz_java WITH replication = "
          + "{'class': 'SimpleStrategy', 'replication_factor': 1}");
      session.execute("CREATE TABLE IF NOT EXISTS cz_java.kv (k int PRIMARY KEY, v text)");
      String table = "cz_java.kv";
      stage = "prepared writes";
      StringBuilder big = new StringBuilder();
      for (int i = 0; i < 200_000; i++) big.append((char) ('a' + i % 7));
      PreparedStatement ins = session.prepare("INSERT INTO " + table + " (k, v) VALUES (?, ?)");
      PreparedStatement sel = session.prepare("SELECT v FROM " + table + " WHERE k = ?");
      int base = version == ProtocolVersion.V3 ? 1000 : 2000;
      base += compression == ProtocolOptions.Compression.SNAPPY ? 0 : 500;
      for (int i = 0; i < 100; i++) {
        String v = i == 0 ? big.toString() : "value-" + i;
        session.execute(new BoundStatement(ins).bind(base + i, v));
      }
      stage = "prepared reads";
      for (int i = 0; i < 100; i++) {
        Row row = session.execute(new BoundStatement(sel).bind(base + i)).one();
        String want = i == 0 ? big.toString() : "value-" + i;
        if (row == null || !want.equals(row.getString("v"))) {
          throw new IllegalStateException("row " + (base + i) + " read back wrong");
        }
      }
      stage = "paging";
      SimpleStatement all = new SimpleStatement(
          "SELECT k FROM " + table + " WHERE k IN (" + inList(base, 100) + ")");
      all.setFetchSize(10);
      ResultSet rs = session.execute(all);
      int rows = 0;
      for (Row ignored : rs) rows++;
      stage = "system.local";
      String release = session.execute("SELECT release_version FROM system.local").one().getString(0);
      System.out.println("{\"ok\": true, \"protocol\": " + args[2] + ", \"compression\": \"" + args[3]
          + "\", \"rows\": " + rows + ", \"big\": " + big.length() + ", \"release\": \"" + release + "\"}");
      cluster.close();
      System.exit(0);
    } catch (Throwable t) {
      String msg = String.valueOf(t).replace("\\", "\\\\").replace("\"", "'").replace("\n", " ");
      System.out.println("{\"ok\": false, \"stage\": \"" + stage + "\", \"error\": \"" + msg + "\"}");
      if (cluster != null) cluster.close();
      System.exit(1);
    }
  }

  private static String inList(int base, int n) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < n; i++) {
      if (i > 0) sb.append(", ");
      sb.append(base + i);
    }
    return sb.toString();
  }
}
