import org.apache.solr.embedded.JettyConfig;
import org.apache.solr.embedded.JettySolrRunner;

/** Serves a Solr home over HTTP on 127.0.0.1 with Solr's own embedded Jetty runner. */
public class CkanSolr {
  public static void main(String[] args) throws Exception {
    String home = args[0];
    int port = Integer.parseInt(args[1]);
    JettyConfig config = JettyConfig.builder().setPort(port).setContext("/solr").stopAtShutdown(true).build();
    JettySolrRunner runner = new JettySolrRunner(home, config);
    runner.start();
    System.out.println("solr ready at " + runner.getBaseUrl());
    Thread.currentThread().join();
  }
}
